package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds one HTTP attempt of a notifier.
const DefaultTimeout = 10 * time.Second

// maxBody is how much of a response body is read for the reason of an error;
// Reason keeps at most MaxReason bytes of it.
const maxBody = 1024

// NewClient returns the HTTP client of a notifier: each attempt bounded by
// timeout, and redirects never followed. A redirect would carry the request
// (its body holds PagerDuty's routing key, its headers a bearer token) to
// wherever the receiver points, and bring back what is there; Post reports
// it as a failure instead.
func NewClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// CheckURL checks that raw is an absolute URL a notifier may post to: https,
// or plain http to a loopback host (127.0.0.0/8, ::1, localhost), where the
// request does not leave the machine. The error names the receiver (kind and
// name, when set) and the URL's scheme and host, never its path, query or
// user info, which may hold secrets (a Slack webhook's path is one).
func CheckURL(kind, name, raw string) error {
	who := kind + " receiver"
	if name != "" {
		who += fmt.Sprintf(" %q", name)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%s: not an absolute http(s) URL", who)
	}
	if u.Scheme == "http" && !loopback(u.Hostname()) {
		return fmt.Errorf("%s: https required, got scheme %q with host %q (plain http is allowed only to loopback hosts: 127.0.0.0/8, ::1, localhost)",
			who, u.Scheme, u.Host)
	}
	return nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Request is one HTTP POST of a JSON body.
type Request struct {
	// URL is where to post. It may be a secret (Slack) and never appears in errors.
	URL string
	// Header holds extra headers; Content-Type is always application/json.
	Header http.Header
	// Body is the JSON document.
	Body []byte
	// Accept, when set, decides whether a 2xx answer is a success; it returns a
	// permanent error otherwise. Nil accepts every 2xx.
	Accept func(code int, body []byte) error
}

// Post sends r with c (made by NewClient) and classifies the outcome: nil on
// success; Retryable for network errors, 429 and 5xx (with the receiver's
// Retry-After); a permanent *StatusError for any other status, a redirect
// included. The URL and headers never appear in the returned error, so
// secrets carried there cannot leak into logs, and of what the receiver sent
// only a short Reason does.
func Post(ctx context.Context, c *http.Client, r Request) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return errors.New("building request: invalid url")
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "driftwatch")
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("sending request: %w", ctx.Err())
		}
		return Retryable(redact(err, r.URL), 0)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	serr := &StatusError{Code: resp.StatusCode, Body: Reason(string(body))}
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if r.Accept != nil {
			return r.Accept(resp.StatusCode, body)
		}
		return nil
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return &StatusError{Code: resp.StatusCode}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return Retryable(serr, RetryAfter(resp.Header.Get("Retry-After"), time.Now()))
	default:
		return serr
	}
}

// redact turns a client error into one that names neither the URL nor its
// query, keeping the cause (connection refused, timeout, ...) as a Reason: a
// transport error may quote a malformed answer.
func redact(err error, rawURL string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	if rawURL != "" {
		msg = strings.ReplaceAll(msg, rawURL, "<redacted>")
		if u, perr := url.Parse(rawURL); perr == nil {
			if u.Path != "" && u.Path != "/" {
				msg = strings.ReplaceAll(msg, u.Path, "<redacted>")
			}
			if u.RawQuery != "" {
				msg = strings.ReplaceAll(msg, u.RawQuery, "<redacted>")
			}
		}
	}
	return fmt.Errorf("sending request: %s", Reason(msg))
}

// RetryAfter parses a Retry-After header (delay in seconds or an HTTP date)
// relative to now; 0 when absent or unparsable.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
