package org.citylake.sql;

import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.rules.Rule;
import scala.jdk.javaapi.CollectionConverters;

/**
 * Refuses every statement of a session whose settings differ from the server's.
 *
 * <p>SQL's SET is refused by {@link ReadOnlyCheck}, but a HiveServer2 client can also send
 * settings when it opens its session ({@code jdbc:hive2://host:port/db;?key=value}, ODBC's
 * server-side properties), and Spark's Thrift server applies them to the session unchecked:
 * {@code spark.sql.runSQLOnFiles}, a catalog plugin ({@code spark.sql.catalog.x}) or a Hadoop
 * file-system setting. Settings Spark or Delta set on the server's own session are copied into
 * each new session, so the server's session, not the launch configuration, is the reference.
 * This rule runs in the analyzer's first batches, before any relation or
 * catalog is resolved, so such a session runs nothing at all.
 */
final class SessionSettingsGuard extends Rule<LogicalPlan> {
  /**
   * Settings that Spark's Thrift server or standard clients (Hive JDBC, beeline) set on every
   * session; they format results and cannot change what is read.
   */
  private static final Set<String> ALLOWED = new HashSet<>(Arrays.asList(
      "spark.sql.datetime.java8API.enabled",
      "spark.sql.binaryOutputStyle",
      "hive.server2.thrift.resultset.default.fetch.size"));

  private final SparkSession session;
  private final String role;

  SessionSettingsGuard(SparkSession session, String role) {
    this.session = session;
    this.role = role;
  }

  @Override
  public LogicalPlan apply(LogicalPlan plan) {
    if (ReadOnlyExtension.trusted(session)) {
      return plan;
    }
    SparkSession server = ReadOnlyExtension.server();
    if (server == null) {
      throw new AccessRefused(role, "this session", "the server has not finished starting");
    }
    // a client session starts as a copy of the server's settings: any difference is the client's
    Map<String, String> base = CollectionConverters.asJava(server.conf().getAll());
    Map<String, String> settings = CollectionConverters.asJava(session.conf().getAll());
    for (Map.Entry<String, String> e : settings.entrySet()) {
      String key = e.getKey();
      // HiveServer2 also copies the JVM's hive.* system properties into each session
      if (ALLOWED.contains(key) || e.getValue().equals(base.get(key))
          || e.getValue().equals(System.getProperty(key))) {
        continue;
      }
      // the key only, never the value: a client may have typed a secret into it
      throw new AccessRefused(role, "the session setting " + key,
          "this endpoint takes no settings from clients; connect without it");
    }
    return plan;
  }
}
