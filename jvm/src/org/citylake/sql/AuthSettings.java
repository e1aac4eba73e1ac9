package org.citylake.sql;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.SparkEnv;

/**
 * A setting of the endpoint's password providers. HiveServer2 builds them with a fresh
 * HiveConf, which sees hive-site.xml and system properties but not Spark's
 * {@code spark.hadoop.*} launch settings, where citylake puts them (no file to write, nothing
 * on the command line); so both are looked at, the launch settings first.
 */
final class AuthSettings {
  private AuthSettings() {}

  static String get(Configuration conf, String key, String fallback) {
    SparkEnv env = SparkEnv.get();
    String value = env == null ? null : env.conf().get("spark.hadoop." + key, null);
    if (value == null && conf != null) {
      value = conf.get(key);
    }
    return value == null || value.isBlank() ? fallback : value.trim();
  }
}
