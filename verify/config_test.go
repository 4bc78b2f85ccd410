package verify_test

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/idshift/idshift/verify"
)

// The example of BreakerConfig's doc comment decodes strictly; an unknown key is refused.
func TestBreakerConfigExampleDecodesStrictly(t *testing.T) {
	example := `
timeout: 3s
failures: 5
failureRatio: 0.5
minCalls: 20
window: 1m
coolDown: 30s
`
	var b verify.BreakerConfig
	dec := yaml.NewDecoder(strings.NewReader(example))
	dec.KnownFields(true)
	if err := dec.Decode(&b); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if b.Timeout != 3*time.Second || b.CoolDown != 30*time.Second || b.Window != time.Minute || b.FailureRatio != 0.5 ||
		b.Failures != 5 || b.MinCalls != 20 {
		t.Fatalf("decoded %+v", b)
	}
	dec = yaml.NewDecoder(strings.NewReader(example + "threshold: 3\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&verify.BreakerConfig{}); err == nil {
		t.Fatal("unknown key accepted")
	}
}
