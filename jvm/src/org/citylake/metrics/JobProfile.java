package org.citylake.metrics;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.spark.executor.TaskMetrics;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobEnd;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.scheduler.StageInfo;

/**
 * Every Spark job that starts while this listener is registered, with what its tasks read: the
 * per-job profile the benchmarks print and the structural tests count (how many jobs read a
 * whole batch). Registered for a while and removed (citylake.engine.job_profile); jobs of any
 * thread count, as citylake runs batches on a pool of threads. Listener events arrive on
 * Spark's listener bus thread after the job: {@code rows()} is read once the bus has drained.
 */
public final class JobProfile extends SparkListener {
  private final Map<Integer, long[]> jobs = new LinkedHashMap<>(); // id -> start, end, bytes, records, tasks
  private final Map<Integer, String> descriptions = new LinkedHashMap<>();
  private final Map<Integer, Integer> stageJob = new LinkedHashMap<>();

  @Override
  public synchronized void onJobStart(SparkListenerJobStart start) {
    Properties props = start.properties();
    jobs.put(start.jobId(), new long[] {start.time(), -1L, 0L, 0L, 0L});
    String what = props == null ? null : props.getProperty("spark.job.description");
    if (what == null || what.isEmpty()) {
      what = props == null ? null : props.getProperty("callSite.short");
    }
    if (what == null || what.isEmpty()) { // AQE's stage jobs: the name of their last stage
      List<StageInfo> stages = scala.jdk.javaapi.CollectionConverters.asJava(start.stageInfos());
      what = stages.isEmpty() ? "" : stages.get(stages.size() - 1).name();
    }
    descriptions.put(start.jobId(), what.replace('\t', ' ').replace('\n', ' '));
    for (Object stage : scala.jdk.javaapi.CollectionConverters.asJava(start.stageIds())) {
      stageJob.put((Integer) stage, start.jobId());
    }
  }

  @Override
  public synchronized void onTaskEnd(SparkListenerTaskEnd end) {
    Integer job = stageJob.get(end.stageId());
    TaskMetrics metrics = end.taskMetrics();
    if (job == null || metrics == null) {
      return;
    }
    long[] j = jobs.get(job);
    j[2] += metrics.inputMetrics().bytesRead();
    j[3] += metrics.inputMetrics().recordsRead();
    j[4] += 1;
  }

  @Override
  public synchronized void onJobEnd(SparkListenerJobEnd end) {
    long[] j = jobs.get(end.jobId());
    if (j != null) {
      j[1] = end.time();
    }
  }

  /** One tab-separated line per job: id, start ms, end ms, input bytes, input records, tasks, description. */
  public synchronized List<String> rows() {
    List<String> out = new ArrayList<>();
    for (Map.Entry<Integer, long[]> e : jobs.entrySet()) {
      long[] j = e.getValue();
      out.add(e.getKey() + "\t" + j[0] + "\t" + j[1] + "\t" + j[2] + "\t" + j[3] + "\t" + j[4] + "\t"
          + descriptions.get(e.getKey()));
    }
    return out;
  }
}
