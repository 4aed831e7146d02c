/* SPDX-License-Identifier: MIT */
/* The installation account's secret: a root-only keytab or password file, copied once
 * into memory and fingerprinted, so the request presents exactly what the guard judged. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advert/textrec.h"
#include "advert/trust.h"
#include "creds-internal.h"

#define PASSWORD_MAX 1024

/* A secret file must be root's alone: not writable (trust) and not readable by others. */
int creds_secret_check(const char *path, const char *what, struct why *why)
{
	char *text = NULL;
	int r = trust_check(path, TRUST_FILE, &text);
	if (r < 0) {
		why_set(why, r, "%s: %s", what, text ? text : strerror(-r));
		free(text);
		return r;
	}
	struct stat st;
	if (stat(path, &st) < 0)
		return why_set(why, -errno, "%s \"%s\": %s", what, path, strerror(errno));
	if (st.st_mode & 077)
		return why_set(why, -EPERM,
			       "%s \"%s\" is readable by group or others (mode %04o): refusing to "
			       "use a secret others may have read",
			       what, path, (unsigned)(st.st_mode & 07777));
	return 0;
}

static int check_secret_file(const char *path, const char *what, struct creds_result *res)
{
	int r = creds_secret_check(path, what, &res->why);
	if (r < 0)
		res->status = CREDS_NO_SECRET, res->code = 0;
	return r;
}

static int read_password(const char *path, char **ret, struct creds_result *res)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return creds_res(res, CREDS_NO_SECRET, 0, -errno, "password file \"%s\": %s", path,
				 strerror(errno));
	char buf[PASSWORD_MAX + 2];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return creds_res(res, CREDS_NO_SECRET, 0, -e, "password file \"%s\": %s", path,
				 strerror(e));
	if (n > PASSWORD_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return creds_res(res, CREDS_NO_SECRET, 0, -EFBIG,
				 "password file \"%s\" is longer than %d bytes", path,
				 PASSWORD_MAX);
	}
	/* One trailing newline is the editor's, not the password's. */
	if (n > 0 && buf[n - 1] == '\n')
		n--;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	if (n == 0 || memchr(buf, '\0', (size_t)n)) {
		explicit_bzero(buf, sizeof(buf));
		return creds_res(res, CREDS_NO_SECRET, 0, -EINVAL,
				 "password file \"%s\" holds no usable password", path);
	}
	*ret = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *ret ? 0 : -ENOMEM;
}

/* Copies the principal's keys from the keytab file into a MEMORY: keytab and hashes
 * them (kvno, enctype, key) in keytab order. */
static int snapshot_keytab(struct creds_ctx *c, const struct config_account *acct, EVP_MD_CTX *md,
			   struct creds_result *res)
{
	krb5_context k = c->ctx;
	krb5_principal princ = NULL;
	krb5_keytab file = NULL;
	krb5_kt_cursor cur;
	krb5_keytab_entry e;
	char *ktname = NULL, *memname = NULL;
	static unsigned seq;
	unsigned found = 0;
	int r = 0;

	if (asprintf(&ktname, "FILE:%s", acct->keytab) < 0 ||
	    asprintf(&memname, "MEMORY:advertd-%d-%u", (int)getpid(), seq++) < 0) {
		r = -ENOMEM;
		goto out;
	}
	krb5_error_code kc = krb5_parse_name(k, acct->principal, &princ);
	if (!kc)
		kc = krb5_kt_resolve(k, ktname, &file);
	if (!kc)
		kc = krb5_kt_resolve(k, memname, &c->keytab);
	if (!kc)
		kc = krb5_kt_start_seq_get(k, file, &cur);
	if (kc) {
		const char *msg = krb5_get_error_message(k, kc);
		r = creds_res(res, CREDS_NO_SECRET, kc, -EINVAL, "keytab \"%s\": %s", acct->keytab,
			      msg);
		krb5_free_error_message(k, msg);
		goto out;
	}
	while (krb5_kt_next_entry(k, file, &e, &cur) == 0) {
		if (krb5_principal_compare(k, e.principal, princ)) {
			int32_t kvno = (int32_t)e.vno, enctype = e.key.enctype;
			uint32_t len = e.key.length;
			EVP_DigestUpdate(md, &kvno, sizeof(kvno));
			EVP_DigestUpdate(md, &enctype, sizeof(enctype));
			EVP_DigestUpdate(md, &len, sizeof(len));
			EVP_DigestUpdate(md, e.key.contents, e.key.length);
			if (krb5_kt_add_entry(k, c->keytab, &e) == 0)
				found++;
			if ((int)e.vno > c->keytab_kvno)
				c->keytab_kvno = (int)e.vno;
		}
		krb5_free_keytab_entry_contents(k, &e);
	}
	krb5_kt_end_seq_get(k, file, &cur);
	if (!found)
		r = creds_res(res, CREDS_NO_SECRET, KRB5_KT_NOTFOUND, -ENOENT,
			      "keytab \"%s\" holds no key for %s", acct->keytab, acct->principal);
out:
	if (file)
		krb5_kt_close(k, file);
	if (princ)
		krb5_free_principal(k, princ);
	free(ktname);
	free(memname);
	return r;
}

int creds_fingerprint(struct creds_ctx *c, const struct config_account *acct,
		      char fp[LOCKOUT_FP_LEN + 1], struct creds_result *res)
{
	*res = (struct creds_result){ .status = CREDS_OK };
	if (acct->kind == ACCOUNT_LOCAL)
		return creds_res(res, CREDS_NO_SECRET, 0, -EINVAL, "account \"%s\" is local",
				 acct->name);
	bool keytab = acct->kind == ACCOUNT_KEYTAB;
	int r = check_secret_file(keytab ? acct->keytab : acct->password_file,
				  keytab ? "keytab" : "password file", res);
	if (r < 0)
		return r;

	/* A fresh snapshot each time: the secret may have changed since the last one. */
	if (c->keytab) {
		krb5_kt_close(c->ctx, c->keytab);
		c->keytab = NULL;
	}
	c->keytab_kvno = -1;
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
		c->password = NULL;
	}

	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		return -ENOMEM;
	}
	if (keytab) {
		r = snapshot_keytab(c, acct, md, res);
	} else {
		r = read_password(acct->password_file, &c->password, res);
		if (r == 0)
			EVP_DigestUpdate(md, c->password, strlen(c->password));
	}
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	if (r == 0 && EVP_DigestFinal_ex(md, digest, &len) != 1)
		r = -EIO;
	EVP_MD_CTX_free(md);
	if (r == 0)
		textrec_hex(digest, len, fp, LOCKOUT_FP_LEN);
	return r;
}
