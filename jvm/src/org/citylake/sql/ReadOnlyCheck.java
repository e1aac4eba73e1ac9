package org.citylake.sql;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.analysis.ResolvedNamespace;
import org.apache.spark.sql.catalyst.analysis.ResolvedTable;
import org.apache.spark.sql.catalyst.catalog.CatalogTable;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.SubqueryExpression;
import org.apache.spark.sql.catalyst.expressions.UserDefinedExpression;
import org.apache.spark.sql.catalyst.plans.logical.Command;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.execution.datasources.HadoopFsRelation;
import org.apache.spark.sql.execution.datasources.LogicalRelation;
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation;
import org.apache.spark.sql.internal.SQLConf;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/**
 * The SQL endpoint's allow-list, run on every statement's analyzed plan before anything executes
 * (Spark runs check rules at the end of analysis; commands execute only after it).
 *
 * <p>Allowed: queries (the operators below, subqueries included) whose every relation is a
 * registered catalog table in one of the databases this endpoint serves, and the metadata
 * commands BI tools send (SHOW, DESCRIBE, USE). Everything else is refused: any other command
 * (DDL, DML, SET, ADD JAR, CACHE, CREATE FUNCTION, ...), script transformation, relations read
 * by path, and functions that call Java methods or read files. An operator Spark adds later is
 * refused until it is listed here: the list fails closed.
 */
final class ReadOnlyCheck extends AbstractFunction1<LogicalPlan, BoxedUnit> {
  private static final String SESSION_CATALOG = "spark_catalog";
  private static final String DELTA_LOG_INDEX = "org.apache.spark.sql.delta.DeltaLogFileIndex";
  private static final String LOGICAL_RDD = "org.apache.spark.sql.execution.LogicalRDD";

  /** Relational operators of SELECT, as the analyzer leaves them. */
  private static final Set<String> QUERY = names(
      "org.apache.spark.sql.catalyst.plans.logical.",
      "Project", "Filter", "Aggregate", "Join", "Sort", "GlobalLimit", "LocalLimit", "Offset",
      "Tail", "Union", "Intersect", "Except", "Distinct", "Deduplicate", "Window", "SubqueryAlias",
      "Expand", "Generate", "Sample", "Repartition", "RepartitionByExpression",
      "RebalancePartitions", "ResolvedHint", "WithCTE", "CTERelationDef", "CTERelationRef",
      "OneRowRelation", "LocalRelation", "Subquery", "ReturnAnswer", "LateralJoin", "AsOfJoin",
      "UnionLoop", "UnionLoopRef", "Range",
      // the server's own wrappers: row conversion when it collects a result, and the rows of a
      // command that already passed this check before it ran; SQL cannot produce either
      "DeserializeToObject", "SerializeFromObject", "CommandResult");

  /** Metadata commands: they list names and schemas, never rows or files. */
  private static final Set<String> METADATA = new HashSet<>(Arrays.asList(
      "org.apache.spark.sql.execution.command.ShowNamespacesCommand",
      "org.apache.spark.sql.catalyst.plans.logical.ShowNamespaces",
      "org.apache.spark.sql.catalyst.plans.logical.ShowTables",
      "org.apache.spark.sql.execution.command.ShowTablesCommand",
      "org.apache.spark.sql.delta.commands.ShowDeltaTableColumnsCommand",
      "org.apache.spark.sql.catalyst.plans.logical.ShowColumns",
      "org.apache.spark.sql.catalyst.plans.logical.DescribeRelation",
      "org.apache.spark.sql.catalyst.plans.logical.DescribeColumn",
      "org.apache.spark.sql.catalyst.plans.logical.DescribeNamespace",
      "org.apache.spark.sql.catalyst.plans.logical.SetCatalogAndNamespace",
      "org.apache.spark.sql.execution.command.ShowFunctionsCommand",
      "org.apache.spark.sql.execution.command.DescribeFunctionCommand",
      "org.apache.spark.sql.execution.command.ShowCurrentNamespaceCommand",
      "org.apache.spark.sql.execution.command.ShowCatalogsCommand"));

  /** Functions that call arbitrary Java methods or read files on the server (schemas, DTDs). */
  private static final Set<String> FUNCTIONS = names(
      "org.apache.spark.sql.catalyst.expressions.",
      "CallMethodViaReflection", "TryReflect", "FromAvro", "ToAvro", "SchemaOfAvro",
      "FromProtobuf", "ToProtobuf");

  private final SparkSession session;
  private final String role;
  private final Set<String> databases;

  ReadOnlyCheck(SparkSession session, String role, Set<String> databases) {
    this.session = session;
    this.role = role;
    this.databases = databases;
  }

  @Override
  public BoxedUnit apply(LogicalPlan plan) {
    if (ReadOnlyExtension.trusted(session)) {
      return BoxedUnit.UNIT;
    }
    // a session setting that reopens path reads (the SET guard stops clients changing it)
    if (SQLConf.get().runSQLonFile()) {
      throw refuse("this session", "spark.sql.runSQLOnFiles is on, which would allow reads by path");
    }
    if (deltaLogRead(plan)) {
      return BoxedUnit.UNIT;
    }
    if (METADATA.contains(plan.getClass().getName())) {
      metadata(plan);
    } else {
      query(plan);
    }
    return BoxedUnit.UNIT;
  }

  /**
   * Delta reads a table's transaction log, and its cached state, with plans of its own (and its
   * own UDFs), analyzed in the client's session while a query over that table is planned. Their
   * leaves are a file index over a _delta_log or an RDD, which no SQL can produce (VALUES aside),
   * and their rows never reach the client.
   */
  private static boolean deltaLogRead(LogicalPlan plan) {
    return internalLeaves(plan) > 0;
  }

  /** How many leaves only Delta's own plans have; -1 if any leaf could come from SQL. */
  private static int internalLeaves(LogicalPlan plan) {
    List<LogicalPlan> kids = children(plan);
    if (kids.isEmpty()) {
      String name = plan.getClass().getName();
      if (name.equals(LOGICAL_RDD)) {
        return 1;
      }
      if (plan instanceof LogicalRelation && ((LogicalRelation) plan).relation() instanceof HadoopFsRelation) {
        HadoopFsRelation fs = (HadoopFsRelation) ((LogicalRelation) plan).relation();
        return DELTA_LOG_INDEX.equals(fs.location().getClass().getName()) ? 1 : -1;
      }
      return name.endsWith(".LocalRelation") || name.endsWith(".OneRowRelation") ? 0 : -1;
    }
    int n = 0;
    for (LogicalPlan child : kids) {
      int c = internalLeaves(child);
      if (c < 0) {
        return -1;
      }
      n += c;
    }
    return n;
  }

  private void metadata(LogicalPlan plan) {
    for (LogicalPlan child : children(plan)) {
      if (child instanceof ResolvedNamespace) {
        List<String> ns = CollectionConverters.asJava(((ResolvedNamespace) child).namespace());
        if (!ns.isEmpty() && !"default".equals(ns.get(0)) && !served(ns.get(0))) {
          throw refuse("a statement on database " + ns.get(0), "it is not served on this endpoint");
        }
      } else if (child instanceof ResolvedTable) {
        ResolvedTable t = (ResolvedTable) child;
        String[] ns = t.identifier().namespace();
        if (!SESSION_CATALOG.equals(t.catalog().name()) || ns.length != 1 || !served(ns[0])) {
          throw refuse("a statement on table " + t.name(), "only the registered tables of "
              + String.join(", ", databases) + " are served on this endpoint");
        }
      } else {
        throw refuse(child.nodeName() + " in a metadata statement", "not on the endpoint's allow-list");
      }
    }
  }

  private void query(LogicalPlan plan) {
    if (plan instanceof LogicalRelation) {
      LogicalRelation rel = (LogicalRelation) plan;
      scala.Option<CatalogTable> table = rel.catalogTable();
      if (table.isEmpty()) {
        throw refuse("a read by path", "only the registered tables of "
            + String.join(", ", databases) + " are served on this endpoint");
      }
      scala.Option<String> db = table.get().identifier().database();
      if (db.isEmpty() || !served(db.get())) {
        throw refuse("table " + table.get().identifier().table(), "it is not served on this endpoint");
      }
    } else if (plan instanceof DataSourceV2Relation) {
      DataSourceV2Relation rel = (DataSourceV2Relation) plan;
      boolean ok = rel.catalog().isDefined() && rel.identifier().isDefined()
          && SESSION_CATALOG.equals(rel.catalog().get().name())
          && rel.identifier().get().namespace().length == 1
          && served(rel.identifier().get().namespace()[0]);
      if (!ok) {
        throw refuse("a read of " + rel.nodeName(), "only the registered tables of "
            + String.join(", ", databases) + " are served on this endpoint");
      }
    } else if (!QUERY.contains(plan.getClass().getName())) {
      throw refuse(plan.nodeName(), why(plan));
    }
    for (Expression e : CollectionConverters.asJava(plan.expressions())) {
      expression(e);
    }
    for (LogicalPlan child : children(plan)) {
      query(child);
    }
  }

  private void expression(Expression e) {
    String name = e.getClass().getName();
    if (FUNCTIONS.contains(name)) {
      throw refuse("function " + e.prettyName(), "it calls Java methods or reads files on the server");
    }
    if (e instanceof UserDefinedExpression || name.startsWith("org.apache.spark.sql.hive.")) {
      throw refuse("user-defined function " + e.prettyName(), "only Spark's built-in functions are served");
    }
    if (e instanceof SubqueryExpression) {
      query(((SubqueryExpression) e).plan());
    }
    for (Expression child : CollectionConverters.asJava(e.children())) {
      expression(child);
    }
  }

  private static String why(LogicalPlan plan) {
    if (plan.nodeName().startsWith("ScriptTransformation")) {
      return "TRANSFORM ... USING runs operating-system commands on the server";
    }
    if (plan instanceof Command) {
      return "the endpoint is read-only: it runs queries and SHOW/DESCRIBE/USE, no DDL, DML, SET,"
          + " ADD JAR, CACHE or function definitions";
    }
    return "not on the endpoint's allow-list of query operators";
  }

  private boolean served(String database) {
    return databases.contains(database.toLowerCase(java.util.Locale.ROOT));
  }

  private AccessRefused refuse(String what, String why) {
    return new AccessRefused(role, what, why);
  }

  private static List<LogicalPlan> children(LogicalPlan plan) {
    return CollectionConverters.asJava(plan.children());
  }

  private static Set<String> names(String prefix, String... simple) {
    Set<String> out = new HashSet<>();
    for (String s : simple) {
      out.add(prefix + s);
    }
    return out;
  }
}
