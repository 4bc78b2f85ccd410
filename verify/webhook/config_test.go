package webhook_test

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/idshift/idshift/verify/webhook"
)

// The example of Config's doc comment decodes strictly; an unknown key is refused.
func TestConfigExamplesDecodeStrictly(t *testing.T) {
	example := `
url: https://legacy.example.com/idshift/verify
secret: "0123456789abcdef0123456789abcdef"
timeout: 5s
maxIdleConns: 16
`
	var c webhook.Config
	dec := yaml.NewDecoder(strings.NewReader(example))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if c.Timeout != 5*time.Second || c.MaxIdleConns != 16 {
		t.Fatalf("decoded %+v", c)
	}
	if _, err := c.Open(nil); err != nil {
		t.Fatalf("Open: %v", err)
	}
	dec = yaml.NewDecoder(strings.NewReader(example + "hmacKey: x\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&webhook.Config{}); err == nil {
		t.Fatal("unknown key accepted")
	}

}
