package browsertest_test

import (
	"image/color"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/idshift/idshift/internal/browsertest"
)

func TestMain(m *testing.M) { os.Exit(browsertest.Main(m)) }

const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:"

// pages serves a clean page, a page whose problems the tab must report, and a page behind a 401.
func pages() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/clean", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Write([]byte(`<!DOCTYPE html><html><head><link rel="icon" href="data:,"><link rel="stylesheet" href="/s.css"></head><body><div id="box">ok</div><script src="/ok.js"></script></body></html>`))
	})
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", csp)
		w.Write([]byte(`<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body>
<script>document.title = "inline ran"</script>
<script src="/throw.js"></script><script src="/missing.js"></script></body></html>`))
	})
	mux.HandleFunc("/s.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css")
		w.Write([]byte(`body{margin:0;background:#fff} #box{width:200px;height:100px;background:rgb(58,125,68)}`))
	})
	mux.HandleFunc("/ok.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte(`document.getElementById("box").dataset.ran = "yes";`))
	})
	mux.HandleFunc("/throw.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript")
		w.Write([]byte(`console.error("logged an error"); null.boom();`))
	})
	mux.HandleFunc("/locked", func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "right" {
			w.Header().Set("WWW-Authenticate", `Basic realm="t"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		w.Write([]byte("<!DOCTYPE html><title>in</title><p>in</p>"))
	})
	return mux
}

func TestTabReportsProblems(t *testing.T) {
	srv := httptest.NewServer(pages())
	defer srv.Close()

	tab := browsertest.NewTab(t)
	if code, err := tab.Navigate(srv.URL + "/clean"); err != nil || code != 200 {
		t.Fatalf("clean page: %d, %v", code, err)
	}
	if ran, err := browsertest.Eval[string](tab, `document.getElementById("box").dataset.ran`); err != nil || ran != "yes" {
		t.Errorf("the page's script: %q, %v", ran, err)
	}
	tab.NoProblems(t)
	_, img, err := tab.Screenshot()
	if err != nil {
		t.Fatal(err)
	}
	// The green box sits at the top left corner (the page has no margin).
	if got := color.RGBAModel.Convert(img.At(100, 50)); got != (color.RGBA{58, 125, 68, 255}) {
		t.Errorf("screenshot pixel (100,50) = %v, want 58,125,68", got)
	}

	if code, err := tab.Navigate(srv.URL + "/broken"); err != nil || code != 200 {
		t.Fatalf("broken page: %d, %v", code, err)
	}
	probs := strings.Join(tab.Problems(), "\n")
	for _, want := range []string{"Content Security Policy", "logged an error", "boom", "404"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems lack %q:\n%s", want, probs)
		}
	}
	if title, _ := browsertest.Eval[string](tab, "document.title"); title == "inline ran" {
		t.Error("the inline script ran despite the policy")
	}
}

func TestTabAnswersChallenges(t *testing.T) {
	srv := httptest.NewServer(pages())
	defer srv.Close()
	// One tab, the answer changed between navigations: the browser keeps only credentials that were accepted.
	tab := browsertest.NewTab(t)
	for _, c := range []struct {
		user, password string
		want           int
	}{{"", "", 401}, {"user", "wrong", 401}, {"user", "right", 200}} {
		if err := tab.AnswerChallenges(c.user, c.password); err != nil {
			t.Fatal(err)
		}
		if code, err := tab.Navigate(srv.URL + "/locked"); err != nil || code != c.want {
			t.Errorf("as %q/%q: %d, %v; want %d", c.user, c.password, code, err, c.want)
		}
	}
}
