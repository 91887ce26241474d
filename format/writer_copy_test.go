package format_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pwru-record/pwru-record/format"
	"github.com/pwru-record/pwru-record/internal/testsupport/fakecapture"
)

var snapshotTypes = []format.SectionType{format.SectionBTF, format.SectionKallsyms, format.SectionInterfaces, format.SectionProbes}

// copyInto writes a capture holding the snapshot sections of src, copied,
// and one AddBTF of vmlinux that must be ignored.
func copyInto(t *testing.T, s *fakecapture.Stream, src *format.File) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	w, err := format.NewWriter(&buf, &s.Header, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CopySections(src, snapshotTypes...); err != nil {
		return nil, err
	}
	if err := w.AddBTF("", []byte("ignored: vmlinux was copied")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), nil
}

// TestCopySections: the copy reads back as the original's snapshots, and
// each copied section is byte for byte the stored one.
func TestCopySections(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 5, SKBs: 20})
	orig := writeStream(t, s, &format.WriterOptions{FlushInterval: -1})
	src := mustOpen(t, orig, nil)
	out, err := copyInto(t, s, src)
	if err != nil {
		t.Fatal(err)
	}
	got := mustOpen(t, out, nil)
	wantSyms, err := src.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	gotSyms, err := got.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantSyms.All(), gotSyms.All()); diff != "" {
		t.Errorf("kallsyms (-want +got):\n%s", diff)
	}
	wantBTF, _ := src.RawBTF("")
	gotBTF, err := got.RawBTF("")
	if err != nil || !bytes.Equal(wantBTF, gotBTF) {
		t.Errorf("vmlinux BTF: %d bytes, %v; want the %d copied", len(gotBTF), err, len(wantBTF))
	}
	if diff := cmp.Diff(src.Probes(), got.Probes()); diff != "" {
		t.Errorf("probes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(src.Interfaces(), got.Interfaces()); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
	stored := func(b []byte, f *format.File) [][]byte {
		var secs [][]byte
		for _, si := range f.Sections() {
			for _, ty := range snapshotTypes {
				if si.Type == ty {
					secs = append(secs, b[si.Offset:si.Offset+si.Size])
				}
			}
		}
		return secs
	}
	want, have := stored(orig, src), stored(out, got)
	if len(want) != 4 || len(have) != len(want) {
		t.Fatalf("%d snapshot sections copied, want the %d of the original (4)", len(have), len(want))
	}
	for i := range want {
		if !bytes.Equal(want[i], have[i]) {
			t.Errorf("section %d: %d bytes differ from the %d stored", i, len(have[i]), len(want[i]))
		}
	}
}

// TestCopySectionsChecks: a section whose stored bytes are damaged is not
// copied, and a file's own header or trailer cannot be.
func TestCopySectionsChecks(t *testing.T) {
	s := fakecapture.Generate(fakecapture.Config{Seed: 5, SKBs: 20})
	orig := writeStream(t, s, &format.WriterOptions{FlushInterval: -1})
	src := mustOpen(t, orig, nil)
	var kallsyms format.SectionInfo
	for _, si := range src.Sections() {
		if si.Type == format.SectionKallsyms {
			kallsyms = si
		}
	}
	bad := bytes.Clone(orig)
	bad[kallsyms.Offset+kallsyms.Size-1] ^= 0xff
	damaged, err := format.NewFile(bytes.NewReader(bad), int64(len(bad)), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := copyInto(t, s, damaged); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("copy of a damaged kallsyms section: %v, want a checksum error", err)
	}
	w, err := format.NewWriter(&bytes.Buffer{}, &s.Header, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.CopySections(src, format.SectionHeader); err == nil {
		t.Error("copying a header section was accepted")
	}
}
