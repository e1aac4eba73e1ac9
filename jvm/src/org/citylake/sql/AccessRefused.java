package org.citylake.sql;

/**
 * What the SQL endpoint's client sees when a statement is refused: what was refused and why.
 *
 * <p>The message names the kind of statement, operator or function, never the statement's text
 * or its literals, so a refusal cannot echo data or a secret a client typed.
 */
public final class AccessRefused extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public AccessRefused(String role, String what, String why) {
    super("citylake SQL endpoint (role " + role + ", read-only) refused " + what + ": " + why);
  }

  // no stack trace: the client sees the message, and the server log needs no trace for a refusal
  @Override
  public synchronized Throwable fillInStackTrace() {
    return this;
  }
}
