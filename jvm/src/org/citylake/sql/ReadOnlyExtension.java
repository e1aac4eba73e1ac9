package org.citylake.sql;

import java.lang.ref.WeakReference;
import java.util.Collections;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import org.apache.spark.SparkConf;
import org.apache.spark.SparkEnv;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.SparkSessionExtensions;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * The session extension that makes citylake's SQL endpoint read-only (spark.sql.extensions).
 *
 * <p>Spark's Thrift server has no authorisation of its own: any authenticated client could
 * otherwise write, read any path or run commands. The endpoint's process sets the role and the
 * databases it serves in its launch configuration ({@code spark.citylake.sql.role},
 * {@code spark.citylake.sql.databases}); that configuration cannot be changed by a client, and
 * with no databases configured nothing is served.
 */
public final class ReadOnlyExtension extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {
  static final String ROLE = "spark.citylake.sql.role";
  static final String DATABASES = "spark.citylake.sql.databases";
  private static final String SINGLE_SESSION = "spark.sql.hive.thriftServer.singleSession";
  private static volatile WeakReference<SparkSession> server = new WeakReference<>(null);

  /**
   * The server's own session, which registers the lake's tables (CREATE TABLE ... LOCATION):
   * its statements pass unchecked. Clients never run in it: the Thrift server gives every
   * client session a new SparkSession unless singleSession is on, which this refuses.
   */
  public static void trust(SparkSession session) {
    if ("true".equalsIgnoreCase(session.conf().get(SINGLE_SESSION, "false"))) {
      throw new IllegalStateException(SINGLE_SESSION + " would run clients in the server's session");
    }
    server = new WeakReference<>(session);
  }

  static boolean trusted(SparkSession session) {
    return session != null && server.get() == session;
  }

  static SparkSession server() {
    return server.get();
  }

  @Override
  public BoxedUnit apply(SparkSessionExtensions extensions) {
    SparkConf launch = SparkEnv.get().conf();
    String role = launch.get(ROLE, "analyst");
    Set<String> databases = new TreeSet<>();
    for (String db : launch.get(DATABASES, "").split(",")) {
      if (!db.isBlank()) {
        databases.add(db.trim().toLowerCase(Locale.ROOT));
      }
    }
    Set<String> served = Collections.unmodifiableSet(databases);
    extensions.injectHintResolutionRule(new AbstractFunction1<>() {
      @Override
      public SessionSettingsGuard apply(SparkSession session) {
        return new SessionSettingsGuard(session, role);
      }
    });
    extensions.injectCheckRule(new AbstractFunction1<>() {
      @Override
      public ReadOnlyCheck apply(SparkSession session) {
        return new ReadOnlyCheck(session, role, served);
      }
    });
    return BoxedUnit.UNIT;
  }
}
