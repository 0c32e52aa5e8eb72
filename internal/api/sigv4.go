package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// maxClockSkew is how far a request's X-Amz-Date may be from our clock, as on AWS.
const maxClockSkew = 15 * time.Minute

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDateFmt   = "20060102T150405Z"
)

// authHeader is a parsed SigV4 Authorization header.
type authHeader struct {
	AccessKeyID   string
	Date          string // yyyymmdd of the credential scope
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

// authError is a 403 in the shape AWS gives for a request it will not
// authenticate. Its code is one of AWS's own, so SDKs report it as AWS does.
type authError struct {
	code, msg string
}

func (e *authError) Error() string { return e.code + ": " + e.msg }

var (
	errMissingAuth = &authError{"MissingAuthenticationTokenException", "Missing Authentication Token"}
	errUnknownKey  = &authError{"UnrecognizedClientException", "The security token included in the request is invalid."}
	errBadSig      = &authError{"InvalidSignatureException",
		"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}
)

func incompleteSig(format string, args ...any) *authError {
	return &authError{"IncompleteSignatureException", fmt.Sprintf(format, args...)}
}

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AK/20240102/us-east-1/ivs/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=hex". It is given untrusted input.
func parseAuthorization(h string) (authHeader, error) {
	var a authHeader
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg != sigAlgorithm {
		return a, incompleteSig("Authorization header requires the %s algorithm", sigAlgorithm)
	}
	var cred, signed string
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, incompleteSig("Authorization header element %q is not a key=value pair", truncate(part, 64))
		}
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			a.Signature = v
		}
	}
	if cred == "" || signed == "" || a.Signature == "" {
		return a, incompleteSig("Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters")
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || scope[0] == "" || len(scope[1]) != 8 || scope[2] == "" || scope[3] == "" {
		return a, incompleteSig("Credential must have the form <access key id>/<yyyymmdd>/<region>/<service>/aws4_request")
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = scope[0], scope[1], scope[2], scope[3]
	a.SignedHeaders = strings.Split(signed, ";")
	hasHost := false
	for _, sh := range a.SignedHeaders {
		if sh == "" || sh != strings.ToLower(sh) {
			return a, incompleteSig("SignedHeaders must be a list of lower-case header names separated by ';'")
		}
		hasHost = hasHost || sh == "host"
	}
	if !hasHost {
		return a, incompleteSig("SignedHeaders must include host")
	}
	if len(a.Signature) != 2*sha256.Size {
		return a, incompleteSig("Signature must be %d hex digits", 2*sha256.Size)
	}
	if _, err := hex.DecodeString(a.Signature); err != nil {
		return a, incompleteSig("Signature must be %d hex digits", 2*sha256.Size)
	}
	return a, nil
}

// verifier checks SigV4 signatures against the account's one key pair.
type verifier struct {
	accessKeyID string
	secret      string
	service     string
	now         func() time.Time
	signer      *v4.Signer
}

func newVerifier(accessKeyID, secret, service string) *verifier {
	return &verifier{accessKeyID: accessKeyID, secret: secret, service: service, now: time.Now, signer: v4.NewSigner()}
}

// preflight checks what can be checked before the body is read: that the
// request is signed, by a key we know, recently enough.
func (v *verifier) preflight(r *http.Request) (authHeader, time.Time, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return authHeader{}, time.Time{}, errMissingAuth
	}
	a, err := parseAuthorization(h)
	if err != nil {
		return a, time.Time{}, err
	}
	if a.Service != v.service {
		return a, time.Time{}, incompleteSig("Credential should be scoped to correct service: '%s'", v.service)
	}
	if !hmac.Equal([]byte(a.AccessKeyID), []byte(v.accessKeyID)) {
		return a, time.Time{}, errUnknownKey
	}
	raw := r.Header.Get("X-Amz-Date")
	if raw == "" {
		return a, time.Time{}, incompleteSig("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header")
	}
	t, err := time.Parse(amzDateFmt, raw)
	if err != nil {
		return a, time.Time{}, incompleteSig("X-Amz-Date %q is not of the form %s", truncate(raw, 32), amzDateFmt)
	}
	if t.Format("20060102") != a.Date {
		return a, time.Time{}, &authError{"InvalidSignatureException",
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP"}
	}
	now := v.now().UTC()
	if d := now.Sub(t); d > maxClockSkew || d < -maxClockSkew {
		return a, time.Time{}, &authError{"InvalidSignatureException", fmt.Sprintf(
			"Signature expired: %s is now earlier than %s (%s - 15 min.)",
			raw, now.Add(-maxClockSkew).Format(amzDateFmt), now.Format(amzDateFmt))}
	}
	return a, t, nil
}

// verify re-signs a copy of r that carries only the headers the client
// signed, with our copy of the secret, the client's date and the region of
// its scope, using the SDK's own signer, and compares the signatures.
func (v *verifier) verify(ctx context.Context, r *http.Request, a authHeader, signed time.Time, body []byte) error {
	c := &http.Request{
		Method: r.Method,
		URL:    cloneURL(r),
		Host:   r.Host,
		Header: make(http.Header, len(a.SignedHeaders)),
	}
	for _, name := range a.SignedHeaders {
		switch name {
		case "host":
			// The signer takes it from c.Host.
		case "content-length":
			// The signer takes it from ContentLength, and only when > 0.
			c.ContentLength = int64(len(body))
		default:
			vals := r.Header.Values(name)
			if len(vals) == 0 {
				return incompleteSig("signed header %q is missing from the request", truncate(name, 64))
			}
			c.Header[http.CanonicalHeaderKey(name)] = vals
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: v.accessKeyID, SecretAccessKey: v.secret}
	if err := v.signer.SignHTTP(ctx, creds, c, hex.EncodeToString(sum[:]), a.Service, a.Region, signed); err != nil {
		return fmt.Errorf("api: sign request copy: %w", err)
	}
	want, err := parseAuthorization(c.Header.Get("Authorization"))
	if err != nil {
		return fmt.Errorf("api: parse own signature: %w", err)
	}
	if strings.Join(want.SignedHeaders, ";") != strings.Join(a.SignedHeaders, ";") {
		// The client listed headers the signer would not sign (or in
		// another order): what it signed is not what we can check.
		return errBadSig
	}
	if !hmac.Equal([]byte(want.Signature), []byte(strings.ToLower(a.Signature))) {
		return errBadSig
	}
	return nil
}

func cloneURL(r *http.Request) *url.URL {
	u := *r.URL
	return &u
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// asAuthError reports whether err is a 403 for the client.
func asAuthError(err error) (*authError, bool) {
	var ae *authError
	ok := errors.As(err, &ae)
	return ae, ok
}
