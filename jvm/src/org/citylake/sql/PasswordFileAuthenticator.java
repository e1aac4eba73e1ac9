package org.citylake.sql;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;
import javax.crypto.SecretKeyFactory;
import javax.crypto.spec.PBEKeySpec;
import javax.security.sasl.AuthenticationException;
import org.apache.hadoop.conf.Configured;
import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * The embedded endpoint's accounts (HiveServer2 CUSTOM authentication): user names and salted
 * PBKDF2-SHA256 hashes in a file under .cache/secrets that `citylake serve-sql` writes, so
 * `make sql` needs no directory server and the server never holds a password.
 *
 * <p>One line per account: {@code user:pbkdf2-sha256:<iterations>:<salt b64>:<hash b64>}. The
 * file is read at each login, so a changed password needs no restart.
 */
public final class PasswordFileAuthenticator extends Configured implements PasswdAuthenticationProvider {
  static final String FILE = "citylake.sql.accounts.file";
  private static final String SCHEME = "pbkdf2-sha256";

  @Override
  public void Authenticate(String user, String password) throws AuthenticationException {
    String file = AuthSettings.get(getConf(), FILE, null);
    if (file == null) {
      throw new AuthenticationException("citylake: the endpoint has no accounts file (" + FILE + ")");
    }
    String[] account = find(Paths.get(file), user == null ? "" : user);
    // a missing account still costs one hash, so the time taken does not tell which names exist
    String[] f = account != null ? account : new String[] {"", SCHEME, "100000", "AAAA", "AAAA"};
    boolean ok;
    try {
      byte[] salt = Base64.getDecoder().decode(f[3]);
      byte[] want = Base64.getDecoder().decode(f[4]);
      char[] typed = (password == null ? "" : password).toCharArray();
      byte[] got = SecretKeyFactory.getInstance("PBKDF2WithHmacSHA256")
          .generateSecret(new PBEKeySpec(typed, salt, Integer.parseInt(f[2]), Math.max(want.length, 1) * 8))
          .getEncoded();
      ok = account != null && password != null && !password.isEmpty() && MessageDigest.isEqual(got, want);
    } catch (GeneralSecurityException | IllegalArgumentException e) {
      throw new AuthenticationException("citylake: the accounts file " + file + " is malformed");
    }
    if (!ok) {
      throw new AuthenticationException("citylake: wrong user name or password");
    }
  }

  private static String[] find(Path file, String user) throws AuthenticationException {
    try {
      for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
        String[] f = line.trim().split(":");
        if (f.length == 5 && f[0].equals(user) && SCHEME.equals(f[1])) {
          return f;
        }
      }
      return null;
    } catch (IOException e) {
      throw new AuthenticationException("citylake: cannot read the accounts file " + file);
    }
  }
}
