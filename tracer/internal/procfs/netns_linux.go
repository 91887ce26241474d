package procfs

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/pwru-record/pwru-record/format"
)

// NetnsRef is a way into a network namespace.
type NetnsRef struct {
	Inode uint32
	Name  string // under /run/netns ("" = none)
	Path  string
}

// ListNetns finds the network namespaces in reach: the recorder's own
// first, the named ones under /run/netns (and /var/run/netns) and those
// of every process.
func ListNetns() []NetnsRef {
	seen := make(map[uint32]int)
	var out []NetnsRef
	add := func(path, name string) {
		var st unix.Stat_t
		if err := unix.Stat(path, &st); err != nil {
			return
		}
		ino := uint32(st.Ino)
		if i, ok := seen[ino]; ok {
			if out[i].Name == "" && name != "" {
				out[i].Name = name
			}
			return
		}
		seen[ino] = len(out)
		out = append(out, NetnsRef{Inode: ino, Name: name, Path: path})
	}
	add("/proc/self/ns/net", "")
	for _, dir := range []string{"/run/netns", "/var/run/netns"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			add(filepath.Join(dir, e.Name()), e.Name())
		}
	}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		add(filepath.Join("/proc", p.Name(), "ns/net"), "")
	}
	return out
}

// Interfaces lists the links of every network namespace in reach, sorted
// by netns and ifindex, with the namespaces and the ways into them
// ([ListNetns]). Namespaces that cannot be entered are skipped.
func Interfaces() ([]format.Interface, []format.Netns, []NetnsRef) {
	refs := ListNetns()
	var ifs []format.Interface
	var nss []format.Netns
	for _, r := range refs {
		links, err := linksIn(r.Path)
		if err != nil {
			continue
		}
		nss = append(nss, format.Netns{Inode: r.Inode, Name: r.Name})
		for _, l := range links {
			a := l.Attrs()
			ifs = append(ifs, format.Interface{
				Netns:   r.Inode,
				Ifindex: uint32(a.Index),
				Name:    a.Name,
				MAC:     append([]byte(nil), a.HardwareAddr...),
				MTU:     uint32(a.MTU),
				Kind:    l.Type(),
			})
		}
	}
	sort.Slice(ifs, func(i, j int) bool {
		if ifs[i].Netns != ifs[j].Netns {
			return ifs[i].Netns < ifs[j].Netns
		}
		return ifs[i].Ifindex < ifs[j].Ifindex
	})
	return ifs, nss, refs
}

func linksIn(path string) ([]netlink.Link, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("netlink in %s: %w", path, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links in %s: %w", path, err)
	}
	return links, nil
}
