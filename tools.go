//go:build tools

package main

import (
	_ "github.com/cilium/ebpf"
	_ "github.com/cilium/ebpf/btf"
	_ "github.com/cilium/ebpf/link"
	_ "github.com/cilium/ebpf/ringbuf"
	_ "github.com/cloudflare/cbpfc"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/gopacket/gopacket/layers"
	_ "github.com/gopacket/gopacket/pcapgo"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/urfave/cli/v2"
	_ "github.com/vishvananda/netlink"
	_ "golang.org/x/sys/unix"
)
