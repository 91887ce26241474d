package format

import (
	"fmt"
	"slices"
)

// CopySections writes the sections of src whose type is one of types, in
// src's order, as they are stored there: compressed bytes and checksums
// copied, nothing decompressed or compressed again. Each stored section is
// read and checked (header against src's index, payload checksum) before
// it is written. Copied BTF and interface sections count as added: a later
// AddBTF of a copied module is ignored, and packets on a copied interface
// find its name, as after AddBTF and AddInterfaces.
//
// It is how every file of a rotated or flight-recorder capture gets the
// snapshots of the first one without paying for their compression again.
func (w *Writer) CopySections(src *File, types ...SectionType) error {
	if err := w.check("copy sections"); err != nil {
		return err
	}
	if slices.Contains(types, SectionHeader) || slices.Contains(types, SectionTrailer) {
		return fmt.Errorf("copy sections: a file's %s and %s are its own", SectionHeader, SectionTrailer)
	}
	var buf []byte
	copied := map[SectionType]bool{}
	for _, s := range src.sections {
		if !slices.Contains(types, s.Type) {
			continue
		}
		// readStored also refuses a section over its type's size limit.
		_, stored, err := src.readStored(s, buf)
		if err != nil {
			return fmt.Errorf("copy %s section: %w", s.Type, err)
		}
		buf = stored
		info := s
		info.Offset = w.off
		if err := w.write(stored); err != nil {
			w.err = fmt.Errorf("write %s section: %w", s.Type, err)
			return w.err
		}
		w.index = append(w.index, info)
		copied[s.Type] = true
	}
	if copied[SectionBTF] {
		for _, m := range src.BTFModules() {
			w.btfSeen[m] = true
		}
	}
	if copied[SectionInterfaces] {
		for _, f := range src.Interfaces() {
			w.ifNames[[2]uint32{f.Netns, f.Ifindex}] = f.Name
		}
	}
	return nil
}
