package org.citylake.pii;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.spark.sql.api.java.UDF1;

/**
 * HMAC-SHA256 of a (normalised) string as 64 lower-case hex characters; null stays null.
 *
 * <p>The key lives only in this object's private field: it reaches executors inside the
 * serialised task, never as a literal in a plan, so explain(), the UI's SQL tab, event logs and
 * lineage events print the function's name and its argument, not the key or its pads (the
 * Spark-column HMAC this replaces put ipad and opad into every plan as binary literals). No
 * getter exposes it, so reflective serialisers (Jackson in OpenLineage) see nothing either.
 */
public final class HmacHex implements UDF1<String, String> {
  private static final long serialVersionUID = 1L;
  private static final char[] HEX = "0123456789abcdef".toCharArray();

  private final byte[] secret;
  private transient volatile ThreadLocal<Mac> macs;

  public HmacHex(byte[] key) {
    if (key == null || key.length == 0) {
      throw new IllegalArgumentException("the PII key is empty");
    }
    this.secret = key.clone();
  }

  private Mac mac() throws GeneralSecurityException {
    if (macs == null) {
      synchronized (this) {
        if (macs == null) {
          final SecretKeySpec spec = new SecretKeySpec(secret, "HmacSHA256");
          macs = ThreadLocal.withInitial(() -> {
            try {
              Mac m = Mac.getInstance("HmacSHA256");
              m.init(spec);
              return m;
            } catch (GeneralSecurityException e) {
              throw new IllegalStateException("HmacSHA256 is not available", e);
            }
          });
        }
      }
    }
    return macs.get();
  }

  @Override
  public String call(String value) throws Exception {
    if (value == null) {
      return null;
    }
    byte[] digest = mac().doFinal(value.getBytes(StandardCharsets.UTF_8));
    char[] out = new char[digest.length * 2];
    for (int i = 0; i < digest.length; i++) {
      out[2 * i] = HEX[(digest[i] >> 4) & 0xF];
      out[2 * i + 1] = HEX[digest[i] & 0xF];
    }
    return new String(out);
  }

  @Override
  public String toString() {
    return "HmacHex";  // never the key
  }
}
