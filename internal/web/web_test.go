package web_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/internal/web"
)

func TestAssets(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Next", "relay")
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(web.Handler(slog.New(slog.DiscardHandler), next))
	defer srv.Close()

	tests := []struct {
		path, ctype, contains string
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="app.js">`},
		{"/app.js", "text/javascript; charset=utf-8", "import"},
		{"/log.js", "text/javascript; charset=utf-8", "client-log"},
		{"/style.css", "text/css; charset=utf-8", ":root"},
		{"/vendor/xterm.mjs", "text/javascript; charset=utf-8", "Terminal"},
		{"/vendor/addon-fit.mjs", "text/javascript; charset=utf-8", "FitAddon"},
		{"/vendor/xterm.css", "text/css; charset=utf-8", ".xterm"},
		{"/favicon.svg", "image/svg+xml", "<svg"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, srv.URL+tt.path, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if !strings.Contains(body, tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
			// A browser revalidating gets 304 for an unchanged file.
			etag := resp.Header.Get("ETag")
			if again, _ := get(t, srv.URL+tt.path, etag); etag == "" || again.StatusCode != http.StatusNotModified {
				t.Errorf("revalidation with ETag %q answered %d, want 304", etag, again.StatusCode)
			}
		})
	}
	t.Run("relay paths pass through", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/ws/dashboard", "/metrics", "/nope.js"} {
			resp, _ := get(t, srv.URL+path, "")
			if resp.Header.Get("X-Next") != "relay" {
				t.Errorf("%s was not passed to the relay's handler", path)
			}
		}
	})
	t.Run("no source maps or dot files", func(t *testing.T) {
		if _, body := get(t, srv.URL+"/vendor/xterm.mjs", ""); strings.Contains(body, "sourceMappingURL") {
			t.Errorf("xterm.mjs points at a source map that is not shipped")
		}
		if resp, _ := get(t, srv.URL+"/.keep", ""); resp.Header.Get("X-Next") != "relay" {
			t.Errorf("/.keep is served by the dashboard")
		}
	})
}

func get(t *testing.T, url, etag string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

func TestClientLog(t *testing.T) {
	var logged bytes.Buffer
	h := web.Handler(slog.New(slog.NewTextHandler(&logged, nil)), nil)
	post := func(body, origin string) int {
		req := httptest.NewRequest(http.MethodPost, "http://relay.test/api/client-log", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}

	if code := post(`{"session":"web-1","level":"error","message":"boom at app.js:1"}`, "http://relay.test"); code != http.StatusNoContent {
		t.Fatalf("valid entry answered %d", code)
	}
	line := logged.String()
	for _, want := range []string{"level=ERROR", "boom at app.js:1", "session=web-1", "source=browser"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}

	cases := []struct {
		name, body, origin string
		want               int
	}{
		{"bad JSON", `{"session":`, "", http.StatusBadRequest},
		{"too large", `{"message":"` + strings.Repeat("x", 70<<10) + `"}`, "", http.StatusRequestEntityTooLarge},
		{"other origin", `{"message":"x"}`, "http://evil.test", http.StatusForbidden},
	}
	for _, c := range cases {
		if code := post(c.body, c.origin); code != c.want {
			t.Errorf("%s: answered %d, want %d", c.name, code, c.want)
		}
	}

	// A page in a loop runs into the rate limit.
	limited := false
	for range 200 {
		if post(`{"session":"web-2","level":"warn","message":"again"}`, "") == http.StatusTooManyRequests {
			limited = true
			break
		}
	}
	if !limited {
		t.Errorf("200 entries at once were all accepted; want the rate limit to refuse some")
	}
}
