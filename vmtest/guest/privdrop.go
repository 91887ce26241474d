//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// scenarioPrivDrop: pwru-record -Z nobody. Once the recorder is ready
// (every probe attached, capture open) its status shows uid nobody and no
// capabilities; it records the pings all the same.
func scenarioPrivDrop(e *env) error {
	if err := ensureNobody(); err != nil {
		return err
	}
	p, err := e.newPair("privdrop")
	if err != nil {
		return err
	}
	e.step("topology")
	rec, err := e.startRecorder("main", "-Z", "nobody", "--filter-func", netFuncs, "icmp and host "+addrB)
	if err != nil {
		return err
	}
	e.step("attach")
	if err := statusValues(e, rec.cmd.Process.Pid); err != nil {
		return err
	}
	if fi, err := os.Stat(filepath.Join(e.dir, "main.pwru")); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		e.value("capture_mode", uint64(fi.Mode().Perm()))
		e.value("capture_uid", uint64(st.Uid))
	}
	ping, err := newPinger(p.nsA, addrA)
	if err != nil {
		return err
	}
	defer ping.Close()
	for seq := uint16(1); seq <= 3; seq++ {
		pkt, err := ping.echo(addrB, 0x5a5a, seq, payload("privdrop", int(seq), 48))
		if err != nil {
			return err
		}
		e.rep.Traffic = append(e.rep.Traffic, pkt)
	}
	e.step("traffic")
	if err := rec.stop(syscall.SIGINT); err != nil {
		return err
	}
	e.step("stop")
	return nil
}

// statusValues stores the recorder's ids and capability sets, read from
// /proc/PID/status, in the report's values (uid, gid, cap_eff, ...).
func statusValues(e *env, pid int) error {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return fmt.Errorf("read recorder status: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		base, key := 10, ""
		switch k {
		case "Uid":
			key = "uid"
		case "Gid":
			key = "gid"
		case "CapEff", "CapPrm", "CapBnd", "CapAmb", "CapInh":
			base, key = 16, "cap_"+strings.ToLower(k[3:])
		case "NoNewPrivs":
			key = "no_new_privs"
		default:
			continue
		}
		n, err := strconv.ParseUint(fields[0], base, 64)
		if err != nil {
			return fmt.Errorf("recorder status %s: %w", k, err)
		}
		e.value(key, n)
		e.logf("recorder status after attach: %s", sc.Text())
	}
	return sc.Err()
}

// ensureNobody adds the user nobody to a guest without one.
func ensureNobody() error {
	if b, err := os.ReadFile("/etc/passwd"); err == nil && strings.Contains("\n"+string(b), "\nnobody:") {
		return nil
	}
	if err := os.MkdirAll("/etc", 0o755); err != nil {
		return err
	}
	add := func(path, line string) error {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("add nobody: %w", err)
		}
		defer f.Close()
		_, err = f.WriteString(line)
		return err
	}
	if err := add("/etc/passwd", "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"); err != nil {
		return err
	}
	return add("/etc/group", "nogroup:x:65534:\n")
}
