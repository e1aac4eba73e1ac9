package org.citylake.sql;

import java.util.ArrayList;
import java.util.Hashtable;
import java.util.List;
import javax.naming.Context;
import javax.naming.NamingEnumeration;
import javax.naming.NamingException;
import javax.naming.directory.DirContext;
import javax.naming.directory.InitialDirContext;
import javax.naming.directory.SearchControls;
import javax.naming.directory.SearchResult;
import javax.naming.ldap.Rdn;
import javax.security.sasl.AuthenticationException;
import org.apache.hadoop.conf.Configured;
import org.apache.hive.service.auth.PasswdAuthenticationProvider;

/**
 * HiveServer2's LDAP authentication with its group filter, as Hive documents it.
 *
 * <p>Spark's Thrift server carries an older copy of Hive's LDAP provider that binds the user
 * but ignores {@code hive.server2.authentication.ldap.groupFilter}: every account of the
 * directory would get in. This provider reads the same settings
 * ({@code hive.server2.authentication.ldap.url}, {@code .baseDN}, {@code .userDNPattern},
 * {@code .groupDNPattern}, {@code .groupFilter}, {@code .groupMembershipKey},
 * {@code .groupClassKey}), binds as the user with the password typed, and then, over that same
 * connection, requires membership of one of the filter's groups. It needs no service account.
 */
public final class LdapGroupAuthenticator extends Configured implements PasswdAuthenticationProvider {
  private static final String P = "hive.server2.authentication.ldap.";

  private String setting(String key, String fallback) {
    return AuthSettings.get(getConf(), P + key, fallback);
  }

  @Override
  public void Authenticate(String user, String password) throws AuthenticationException {
    String url = setting("url", null);
    String baseDN = setting("baseDN", "");
    if (url == null) {
      throw new AuthenticationException("citylake: " + P + "url is not set");
    }
    // an LDAP simple bind with an empty password is an anonymous bind, and succeeds
    if (user == null || user.isBlank() || password == null || password.isEmpty()) {
      throw new AuthenticationException("citylake: a user name and a password are required");
    }
    String escaped = Rdn.escapeValue(user);
    List<String> patterns = new ArrayList<>();
    for (String p : setting("userDNPattern", "uid=%s," + baseDN).split(":")) {
      patterns.add(p.replace("%s", escaped));
    }
    for (String userDN : patterns) {
      DirContext ctx;
      try {
        ctx = new InitialDirContext(env(url, userDN, password));
      } catch (NamingException e) {
        continue; // not this pattern, or a wrong password: the next pattern, then refuse
      }
      try {
        requireGroup(ctx, user, userDN, baseDN);
        return;
      } finally {
        try {
          ctx.close();
        } catch (NamingException ignored) {
          // closing a bound connection cannot undo the check
        }
      }
    }
    throw new AuthenticationException("citylake: LDAP authentication failed for user " + user);
  }

  private void requireGroup(DirContext ctx, String user, String userDN, String baseDN)
      throws AuthenticationException {
    String groups = setting("groupFilter", "");
    if (groups.isEmpty()) {
      return;
    }
    String groupPattern = setting("groupDNPattern", "cn=%s," + baseDN);
    String key = setting("groupMembershipKey", "member");
    String cls = setting("groupClassKey", "groupOfNames");
    // posixGroup lists members by uid, groupOfNames by DN
    String member = key.equalsIgnoreCase("memberUid") ? user : userDN;
    SearchControls one = new SearchControls(SearchControls.OBJECT_SCOPE, 1, 10_000, new String[0], false, false);
    for (String group : groups.split(",")) {
      if (group.isBlank()) {
        continue;
      }
      String groupDN = groupPattern.replace("%s", Rdn.escapeValue(group.trim()));
      String filter = "(&(objectClass=" + cls + ")(" + key + "={0}))";
      try {
        NamingEnumeration<SearchResult> found = ctx.search(groupDN, filter, new Object[] {member}, one);
        if (found.hasMore()) {
          return;
        }
      } catch (NamingException e) {
        // no such group, or not readable by this user: not a member
      }
    }
    throw new AuthenticationException("citylake: user " + user + " is not in the group(s) " + groups);
  }

  private static Hashtable<String, Object> env(String url, String dn, String password) {
    Hashtable<String, Object> env = new Hashtable<>();
    env.put(Context.INITIAL_CONTEXT_FACTORY, "com.sun.jndi.ldap.LdapCtxFactory");
    env.put(Context.PROVIDER_URL, url);
    env.put(Context.SECURITY_AUTHENTICATION, "simple");
    env.put(Context.SECURITY_PRINCIPAL, dn);
    env.put(Context.SECURITY_CREDENTIALS, password);
    env.put("com.sun.jndi.ldap.connect.timeout", "5000");
    env.put("com.sun.jndi.ldap.read.timeout", "10000");
    return env;
  }
}
