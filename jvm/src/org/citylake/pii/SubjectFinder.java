package org.citylake.pii;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import org.apache.spark.sql.api.java.UDF1;

/**
 * Which data subjects a (normalised) text holds: the sorted, distinct numbers of the subjects
 * whose needles (normalised values, upper-cased hashes) occur in it as substrings; empty when
 * none, null for null.
 *
 * <p>One Aho-Corasick pass over the text, whatever the number of needles: a join of every row
 * with every needle by {@code instr} costs rows x needles, which was most of an erasure's time.
 * The needles live only in this object's private fields, as {@link HmacHex}'s key does: they
 * reach executors inside the serialised task, so a plan, a Delta commit's predicate or a
 * lineage event names the function, never a value. No getter exposes them.
 */
public final class SubjectFinder implements UDF1<String, List<Integer>> {
  private static final long serialVersionUID = 1L;

  private final String[] needles;
  private final int[] subjects;
  private transient volatile Automaton automaton;

  public SubjectFinder(String[] needles, int[] subjects) {
    if (needles == null || subjects == null || needles.length != subjects.length) {
      throw new IllegalArgumentException("one subject number per needle");
    }
    for (String n : needles) {
      if (n == null || n.isEmpty()) {
        throw new IllegalArgumentException("an empty needle would match every text");
      }
    }
    this.needles = needles.clone();
    this.subjects = subjects.clone();
  }

  private Automaton automaton() {
    Automaton a = automaton;
    if (a == null) {
      synchronized (this) {
        if (automaton == null) {
          automaton = new Automaton(needles, subjects);
        }
        a = automaton;
      }
    }
    return a;
  }

  @Override
  public List<Integer> call(String text) {
    if (text == null) {
      return null;
    }
    return automaton().find(text);
  }

  /** The trie with failure links; each node's edges sorted by character for binary search. */
  private static final class Automaton {
    private char[][] keys = new char[16][];
    private int[][] next = new int[16][];
    private int[] fail = new int[16];
    private int[][] out = new int[16][]; // subjects ending here (own and by failure links)
    private int size = 0;

    Automaton(String[] needles, int[] subjects) {
      node();
      for (int i = 0; i < needles.length; i++) {
        int s = 0;
        for (char c : needles[i].toCharArray()) {
          int t = edge(s, c);
          if (t < 0) {
            t = node();
            addEdge(s, c, t);
          }
          s = t;
        }
        out[s] = union(out[s], new int[] {subjects[i]});
      }
      ArrayDeque<Integer> queue = new ArrayDeque<>();
      for (int t : next[0]) {
        fail[t] = 0;
        queue.add(t);
      }
      while (!queue.isEmpty()) {
        int s = queue.poll();
        for (int k = 0; k < keys[s].length; k++) {
          char c = keys[s][k];
          int t = next[s][k];
          int f = fail[s];
          while (f != 0 && edge(f, c) < 0) {
            f = fail[f];
          }
          int g = edge(f, c);
          fail[t] = (g >= 0 && g != t) ? g : 0;
          out[t] = union(out[t], out[fail[t]]);
          queue.add(t);
        }
      }
    }

    private int node() {
      if (size == fail.length) {
        int n = size * 2;
        keys = Arrays.copyOf(keys, n);
        next = Arrays.copyOf(next, n);
        fail = Arrays.copyOf(fail, n);
        out = Arrays.copyOf(out, n);
      }
      keys[size] = new char[0];
      next[size] = new int[0];
      out[size] = new int[0];
      return size++;
    }

    private void addEdge(int s, char c, int t) {
      int at = -(Arrays.binarySearch(keys[s], c) + 1);
      char[] k = new char[keys[s].length + 1];
      int[] n = new int[k.length];
      System.arraycopy(keys[s], 0, k, 0, at);
      System.arraycopy(next[s], 0, n, 0, at);
      k[at] = c;
      n[at] = t;
      System.arraycopy(keys[s], at, k, at + 1, keys[s].length - at);
      System.arraycopy(next[s], at, n, at + 1, next[s].length - at);
      keys[s] = k;
      next[s] = n;
    }

    private int edge(int s, char c) {
      int i = Arrays.binarySearch(keys[s], c);
      return i >= 0 ? next[s][i] : -1;
    }

    private static int[] union(int[] a, int[] b) {
      if (b.length == 0) {
        return a;
      }
      TreeSet<Integer> all = new TreeSet<>();
      for (int x : a) {
        all.add(x);
      }
      for (int x : b) {
        all.add(x);
      }
      int[] r = new int[all.size()];
      int i = 0;
      for (int x : all) {
        r[i++] = x;
      }
      return r;
    }

    List<Integer> find(String text) {
      TreeSet<Integer> found = null;
      int s = 0;
      for (int i = 0, n = text.length(); i < n; i++) {
        char c = text.charAt(i);
        int t;
        while ((t = edge(s, c)) < 0 && s != 0) {
          s = fail[s];
        }
        s = t < 0 ? 0 : t;
        if (out[s].length > 0) {
          if (found == null) {
            found = new TreeSet<>();
          }
          for (int x : out[s]) {
            found.add(x);
          }
        }
      }
      return found == null ? new ArrayList<>(0) : new ArrayList<>(found);
    }
  }
}
