/* SPDX-License-Identifier: MIT */
/* The published set: what published_format writes reads back as it was, hostile values
 * included; every cut and every flipped bit reads as damaged; targets match hosts,
 * group DNs and group names, and never a group the directory did not name. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/published.h"
#include "testutil.h"

static char *xdup(const char *s)
{
	char *d = strdup(s);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	return d;
}

static void sample(struct published_set *s)
{
	*s = (struct published_set){ .verified = 1764590000, .groups_known = true };
	s->dc = xdup("dc1.example.test");
	s->host = xdup("ws1.example.test");
	s->host_dn = xdup("cn=ws1.example.test,ou=hosts,dc=example,dc=test");
	s->groups = calloc(3, sizeof(char *));
	s->groups[0] = xdup("cn=lab,ou=groups,dc=example,dc=test");
	s->groups[1] = xdup("cn=Floor 2\nnewline,ou=groups,dc=example,dc=test");
	s->n_groups = 2;
	s->items = calloc(2, sizeof(*s->items));
	s->items[0] = (struct published_entry){
		xdup("ldap:///ou=advertisements,dc=example,dc=test"),
		xdup("cn=a,ou=advertisements,dc=example,dc=test"), xdup("20261201T000000Z#1"),
		xdup("advertisements = ( { id = \"A\"; } );\n\nsha256 0000\n")
	};
	s->items[1] =
		(struct published_entry){ xdup("ldap:///ou=advertisements,dc=example,dc=test"),
					  xdup("cn=b,ou=advertisements,dc=example,dc=test"),
					  xdup("42"), xdup("") };
	s->n = 2;
}

static void test_round_trip(void)
{
	struct published_set s, t;
	sample(&s);
	char *buf = NULL;
	size_t len = 0;
	CU_ASSERT_EQUAL_FATAL(published_format(&s, &buf, &len), 0);
	struct why why;
	CU_ASSERT_EQUAL_FATAL(published_parse(buf, len, &t, &why), 0);
	CU_ASSERT_EQUAL(t.verified, s.verified);
	CU_ASSERT_STRING_EQUAL(t.dc, s.dc);
	CU_ASSERT_STRING_EQUAL(t.host_dn, s.host_dn);
	CU_ASSERT_TRUE(t.groups_known);
	CU_ASSERT_EQUAL_FATAL(t.n_groups, 2);
	CU_ASSERT_STRING_EQUAL(t.groups[1], s.groups[1]);
	CU_ASSERT_PTR_NULL(t.groups[2]);
	CU_ASSERT_EQUAL_FATAL(t.n, 2);
	CU_ASSERT_STRING_EQUAL(t.items[0].text, s.items[0].text);
	CU_ASSERT_STRING_EQUAL(t.items[1].text, "");
	CU_ASSERT_STRING_EQUAL(t.items[1].marker, "42");
	CU_ASSERT_EQUAL(published_fingerprint(&t), published_fingerprint(&s));
	free(t.items[1].marker);
	t.items[1].marker = xdup("43");
	CU_ASSERT_NOT_EQUAL(published_fingerprint(&t), published_fingerprint(&s));
	published_clear(&t);

	/* Every cut, and every single flipped bit, is damage. */
	for (size_t cut = 0; cut < len; cut++) {
		CU_ASSERT_EQUAL(published_parse(buf, cut, &t, &why), -EBADMSG);
	}
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (char)(1 << bit);
			int r = published_parse(buf, len, &t, &why);
			CU_ASSERT_EQUAL(r, -EBADMSG);
			if (r == 0)
				published_clear(&t);
			buf[i] ^= (char)(1 << bit);
		}
	}
	free(buf);
	published_clear(&s);
}

static void check_targets(const char *const *targets, const struct published_set *s, int want)
{
	struct advert a = { .id = (char *)"T" };
	a.targets = (char **)targets;
	struct why why;
	CU_ASSERT_EQUAL(published_targeted(&a, s, &why), want);
	CU_ASSERT(why.text[0] != '\0');
}

static void test_targets(void)
{
	struct published_set s;
	sample(&s);
	const char *host[] = { "WS1.example.test", NULL }, *other[] = { "ws2.example.test", NULL },
		   *shortname[] = { "ws1", NULL },
		   *dn[] = { "CN=Lab, OU=groups, DC=example, DC=test", NULL },
		   *name[] = { "lab", NULL }, *none[] = { "ws9", "cn=x,dc=test", NULL },
		   *parent[] = { "ou=groups,dc=example,dc=test", NULL };
	check_targets(host, &s, 1);
	check_targets(other, &s, 0);
	check_targets(shortname, &s, 1);
	check_targets(dn, &s, 1);
	check_targets(name, &s, 1);
	check_targets(none, &s, 0);
	check_targets(parent, &s, 0);
	struct advert all = { .id = (char *)"ALL" };
	struct why why;
	CU_ASSERT_EQUAL(published_targeted(&all, NULL, &why), 1);

	/* Groups the directory did not give are no groups, whatever the file says. */
	s.groups_known = false;
	check_targets(dn, &s, 0);
	check_targets(host, &s, 1);
	check_targets(host, NULL, 0);
	published_clear(&s);

	char *h = published_host_of("host/ws1.example.test@EXAMPLE.TEST", "other.test");
	CU_ASSERT_STRING_EQUAL(h, "ws1.example.test");
	free(h);
	h = published_host_of("WS1$@AD.EXAMPLE.TEST", "ad.example.test");
	CU_ASSERT_STRING_EQUAL(h, "ws1.ad.example.test");
	free(h);
	CU_ASSERT_PTR_NULL(published_host_of("WS1$@AD.TEST", NULL));
	CU_ASSERT_PTR_NULL(published_host_of("svc/WS1$@AD.TEST", "ad.test"));
	CU_ASSERT_PTR_NULL(published_host_of("alice@AD.TEST", "ad.test"));
	CU_ASSERT_PTR_NULL(published_host_of("host/@X", "x"));
}

/* The file: a full disk leaves the verified set as it was and no temp behind; a cache
 * that is not root's alone is refused. */
static void test_file_full_disk_and_mode(void)
{
	char *dir = tu_mkdtemp(), *m = NULL, *fill = NULL, *path = NULL;
	CU_ASSERT_FATAL(asprintf(&m, "%s/full", dir) > 0 && asprintf(&fill, "%s/filler", m) > 0 &&
			asprintf(&path, "%s/" PUBLISHED_FILE, m) > 0);
	mkdir(m, 0700);
	if (mount("tmpfs", m, "tmpfs", 0, "size=64k,mode=0700") < 0) {
		fprintf(stderr, "\n  (cannot mount tmpfs: %s; skipped)\n", strerror(errno));
		goto out;
	}
	struct published_set s, t;
	struct why why;
	sample(&s);
	CU_ASSERT_EQUAL_FATAL(published_save(m, &s), 0);
	int fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char block[4096];
	memset(block, 'x', sizeof(block));
	while (fd >= 0 && write(fd, block, sizeof(block)) > 0)
		;
	if (fd >= 0)
		close(fd);
	free(s.items[1].text);
	s.items[1].text = strdup("a text the full disk cannot take");
	CU_ASSERT(published_save(m, &s) < 0);
	CU_ASSERT_EQUAL_FATAL(published_load(m, &t, &why), 0);
	CU_ASSERT_STRING_EQUAL(t.items[1].text, ""); /* the one saved before */
	published_clear(&t);
	char *tmp = NULL;
	CU_ASSERT_FATAL(asprintf(&tmp, "%s.tmp", path) > 0);
	CU_ASSERT_EQUAL(access(tmp, F_OK), -1);
	free(tmp);
	unlink(fill);
	/* Readable by others: refused, with why. */
	CU_ASSERT_EQUAL(chmod(path, 0644), 0);
	CU_ASSERT_EQUAL(published_load(m, &t, &why), -EPERM);
	CU_ASSERT_PTR_NOT_NULL(strstr(why.text, "not root's alone"));
	published_clear(&s);
	umount2(m, MNT_DETACH);
out:
	rmdir(m);
	tu_rmtree(dir);
	free(dir), free(m), free(fill), free(path);
}

int main(void)
{
	static const struct tu_test tests[] = {
		{ "the set reads back, and damage is seen", test_round_trip },
		{ "targets", test_targets },
		{ "the file: a full disk, a mode not root's", test_file_full_disk_and_mode },
		{ NULL, NULL },
	};
	return tu_run("published", tests);
}
