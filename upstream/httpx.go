package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// response is a bounded HTTP response.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends req with the per-call timeout and reads at most MaxResponseBytes.
// Transport failures and timeouts wrap ErrUnavailable; the request URL is
// named but never a body.
func (p *Provider) do(ctx context.Context, req *http.Request, stage string) (*response, error) {
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	req = req.WithContext(ctx)
	req.Header.Set("Accept", "application/json")
	res, err := p.client.Do(req)
	if err != nil {
		return nil, unavailable(stage+" request to "+req.URL.Redacted(), stripURLError(err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, p.o.MaxResponseBytes+1))
	if err != nil {
		return nil, unavailable(stage+" response from "+req.URL.Redacted(), stripURLError(err))
	}
	if int64(len(body)) > p.o.MaxResponseBytes {
		return nil, checkErr(stage, "response size", "the response exceeds %d bytes", p.o.MaxResponseBytes)
	}
	if res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests {
		return nil, unavailable(stage+" endpoint "+req.URL.Redacted(), fmt.Errorf("HTTP status %d", res.StatusCode))
	}
	return &response{status: res.StatusCode, header: res.Header, body: body}, nil
}

// stripURLError drops the URL of a *url.Error (it is named by the caller).
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// getJSON fetches url and decodes a 200 JSON object into dst.
func (p *Provider) getJSON(ctx context.Context, u, stage string, dst any) error {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return checkErr(stage, "url", "cannot build the request").with(err)
	}
	res, err := p.do(ctx, req, stage)
	if err != nil {
		return err
	}
	if res.status != http.StatusOK {
		return checkErr(stage, "status", "HTTP status %d, want 200", res.status)
	}
	return decodeJSON(res, stage, dst)
}

// decodeJSON checks the media type (application/json or any +json) and
// decodes one JSON object.
func decodeJSON(res *response, stage string, dst any) error {
	mt, _, err := mime.ParseMediaType(res.header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return checkErr(stage, "content type", "the response is not JSON")
	}
	if err := json.Unmarshal(res.body, dst); err != nil {
		return checkErr(stage, "body", "the response is not the expected JSON object").with(jsonErr(err))
	}
	return nil
}

// jsonErr keeps the kind of a JSON error but not the data quoted in it.
func jsonErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Errorf("member %q has the wrong type (want %s)", te.Field, te.Type)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("JSON syntax error at offset %d", se.Offset)
	}
	return errors.New("malformed JSON")
}
