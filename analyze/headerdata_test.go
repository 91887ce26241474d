package analyze

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pwru-record/pwru-record/format"
)

// TestPrintMetadataFromHeaderData: a 1.1 capture, whose header stores the
// metadata expressions and byte order as data and no recorder option
// naming them, prints exactly as the 1.0 capture that held them only as
// option text (the goldens of TestPrintExtrasGolden).
func TestPrintMetadataFromHeaderData(t *testing.T) {
	const skbMeta, xdpMeta = "skb->hash,skb->dev->ifindex", "xdp->rxq->dev->ifindex,xdp->rxq->dev->mtu"
	tests := []struct {
		name string
		opts PrintOptions
	}{
		{"print-extras.golden", PrintOptions{OutputMeta: true, OutputTuple: true}},
		{"print-extras-json.golden", PrintOptions{JSON: true, OutputMeta: true}},
	}
	asData := func(h *format.Header) {
		delete(h.Options, "output-skb-metadata")
		delete(h.Options, "output-xdp-metadata")
		h.SKBMetadata = strings.Split(skbMeta, ",")
		h.XDPMetadata = strings.Split(xdpMeta, ",")
		h.ByteOrder = format.LittleEndian
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustExtrasCapture(t, skbMeta, xdpMeta, asData)
			if v := c.File.Summary().Version; v != "1.1" {
				t.Errorf("format version %q, want 1.1", v)
			}
			var buf bytes.Buffer
			if err := Print(&buf, c, &tt.opts); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}
