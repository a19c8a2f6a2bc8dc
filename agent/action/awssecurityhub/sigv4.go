package awssecurityhub

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Signature Version 4, header-signed requests only (no presigning, no
// streaming). It produces the Authorization header the SDK's signer
// produces for the same request, keys, time, region and service, which
// sigv4_test.go checks against that signer.

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
)

// unsignedHeaders are the headers the SDK leaves out of a signature:
// proxies and the transport may add, drop or rewrite them. The match is on
// the header map's key as stored, as the SDK matches.
var unsignedHeaders = map[string]bool{
	"Authorization":     true,
	"User-Agent":        true,
	"X-Amzn-Trace-Id":   true,
	"Expect":            true,
	"Transfer-Encoding": true,
}

// signV4 signs req in place for service and region at t: it sets
// X-Amz-Date, X-Amz-Security-Token (with a session token) and
// Authorization, drops a default port from the host and rewrites the query
// in its canonical form, so that what is sent is what was signed.
// payloadHash is the hex SHA-256 of the body.
func signV4(req *http.Request, c credentials, payloadHash, service, region string, t time.Time) {
	t = t.UTC()
	amzDate := t.Format(amzDateFormat)
	req.Header["X-Amz-Date"] = []string{amzDate}
	if c.SessionToken != "" {
		req.Header["X-Amz-Security-Token"] = []string{c.SessionToken}
	}
	host := signingHost(req)
	names, headers := canonicalHeaders(req, host)
	query := canonicalQuery(req.URL.Query())
	req.URL.RawQuery = query
	canonical := strings.Join([]string{req.Method, canonicalPath(req.URL), query, headers, names, payloadHash}, "\n")

	scope := strings.Join([]string{t.Format("20060102"), region, service, "aws4_request"}, "/")
	digest := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{sigV4Algorithm, amzDate, scope, hex.EncodeToString(digest[:])}, "\n")
	signature := hex.EncodeToString(hmacSHA256(signingKey(c.SecretAccessKey, t, region, service), toSign))
	req.Header["Authorization"] = []string{sigV4Algorithm + " Credential=" + c.AccessKeyID + "/" + scope +
		", SignedHeaders=" + names + ", Signature=" + signature}
}

// signingKey is the key derived from the secret for one day, region and
// service.
func signingKey(secret string, t time.Time, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), t.Format("20060102"))
	for _, part := range []string{region, service, "aws4_request"} {
		k = hmacSHA256(k, part)
	}
	return k
}

func hmacSHA256(key []byte, data string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(nil)
}

// signingHost is the host signed: the request's Host, or its URL's, after
// dropping the scheme's default port from req.Host as the SDK does (the
// client then sends the host without it).
func signingHost(req *http.Request) string {
	host := firstOf(req.Host, req.URL.Host)
	if port := hostPort(host); port != "" && isDefaultPort(req.URL.Scheme, port) {
		req.Host = hostWithoutPort(host)
	}
	return firstOf(req.Host, req.URL.Host)
}

// hostPort is the port of host:port or [v6]:port; "" when there is none.
func hostPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.Index(host, "]:"); i >= 0 {
			return host[i+2:]
		}
		return ""
	}
	_, port, _ := strings.Cut(host, ":")
	return port
}

// hostWithoutPort drops the port, and an IPv6 address's brackets with it.
func hostWithoutPort(host string) string {
	if strings.HasPrefix(host, "[") {
		if i := strings.IndexByte(host, ']'); i >= 0 {
			return host[1:i]
		}
	}
	h, _, _ := strings.Cut(host, ":")
	return h
}

func isDefaultPort(scheme, port string) bool {
	scheme = strings.ToLower(scheme)
	return scheme == "http" && port == "80" || scheme == "https" && port == "443"
}

// canonicalHeaders returns the signed header names (lower case, sorted,
// joined by ;) and the canonical header block: host, a positive
// Content-Length, and every header but unsignedHeaders, each name's values
// trimmed, runs of spaces made one, and joined by commas.
func canonicalHeaders(req *http.Request, host string) (names, block string) {
	values := map[string][]string{"host": nil}
	if req.ContentLength > 0 {
		values["content-length"] = []string{strconv.FormatInt(req.ContentLength, 10)}
	}
	for k, vs := range req.Header {
		if unsignedHeaders[k] || strings.EqualFold(k, "Content-Length") {
			continue
		}
		lk := strings.ToLower(k)
		values[lk] = append(values[lk], vs...)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + ":")
		if k == "host" {
			b.WriteString(squeezeSpaces(host)) // a Host header in the map is not what is sent
		} else {
			for i, v := range values[k] {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString(strings.TrimSpace(squeezeSpaces(v)))
			}
		}
		b.WriteByte('\n')
	}
	return strings.Join(keys, ";"), b.String()
}

// squeezeSpaces trims spaces at both ends and makes each run of spaces
// inside one space (spaces only; other blanks are left to TrimSpace).
func squeezeSpaces(s string) string {
	s = strings.Trim(s, " ")
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' && i > 0 && s[i-1] == ' ' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// canonicalQuery encodes each name and value, then sorts the pairs by name
// and value: SigV4 sorts after encoding.
func canonicalQuery(q url.Values) string {
	pairs := make([]string, 0, len(q))
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		ki, vi, _ := strings.Cut(pairs[i], "=")
		kj, vj, _ := strings.Cut(pairs[j], "=")
		if ki != kj {
			return ki < kj
		}
		return vi < vj
	})
	return strings.Join(pairs, "&")
}

// canonicalPath is the request's escaped path (URL.Opaque's, when set, as
// the SDK allows), escaped once more as SigV4 requires of every service but
// S3; "/" when empty.
func canonicalPath(u *url.URL) string {
	p := u.EscapedPath()
	if u.Opaque != "" {
		p = opaquePath(u.Opaque)
	}
	if p == "" {
		p = "/"
	}
	return uriEncode(p, false)
}

// opaquePath is the path in an opaque "//host/path?query".
func opaquePath(opaque string) string {
	opaque, _, _ = strings.Cut(opaque, "?")
	opaque = strings.TrimPrefix(opaque, "//")
	if i := strings.IndexByte(opaque, '/'); i >= 0 {
		return opaque[i:]
	}
	return ""
}

// uriEncode percent-encodes every byte but the unreserved characters
// (A-Z a-z 0-9 - . _ ~), in upper-case hex; a slash too when encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || c == '/' && !encodeSlash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
