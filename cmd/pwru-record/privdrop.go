package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

func init() {
	// The main goroutine stays on the main thread, the one whose
	// /proc/PID/status others look at, until the privileges are dropped:
	// the per-thread parts of dropping them (bounding and ambient sets)
	// run there. run unlocks it without -Z, and after the drop.
	runtime.LockOSThread()
}

// identity is the user -Z/--user drops to.
type identity struct {
	name     string
	uid, gid int
	groups   []int // supplementary groups
}

// lookupUser resolves -Z USER: a user name or a numeric uid (whose group
// is the user's, or the same number when the uid has no passwd entry).
func lookupUser(s string) (*identity, error) {
	u, err := user.Lookup(s)
	if err != nil {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 0 {
			return nil, fmt.Errorf("--user: unknown user %q", s)
		}
		if u, err = user.LookupId(s); err != nil {
			return &identity{name: s, uid: n, gid: n, groups: []int{n}}, nil
		}
	}
	id := &identity{name: u.Username}
	if id.uid, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("--user %s: uid %q: %w", s, u.Uid, err)
	}
	if id.gid, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("--user %s: gid %q: %w", s, u.Gid, err)
	}
	id.groups = []int{id.gid}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.Atoi(g); err == nil && n != id.gid {
				id.groups = append(id.groups, n)
			}
		}
	}
	if id.uid == 0 {
		return nil, fmt.Errorf("--user %s: uid 0 keeps every privilege", s)
	}
	return id, nil
}

// capState is what /proc/self/task/TID/status says about one thread.
type capState struct {
	uid, gid                string // real, effective, saved, fs
	eff, prm, bnd, amb, inh uint64
}

// dropped says what dropPrivileges left.
type dropped struct {
	id      *identity
	threads int // threads of the process
	bndLeft int // threads whose bounding set is not empty
}

func (d *dropped) String() string {
	s := fmt.Sprintf("running as %s (uid %d, gid %d) since attach: no capabilities effective or permitted on any of %d threads",
		d.id.name, d.id.uid, d.id.gid, d.threads)
	if d.bndLeft > 0 {
		s += fmt.Sprintf(", bounding set empty on the main thread (%d other threads keep theirs: they cannot use it, the recorder never executes a program)", d.bndLeft)
	} else {
		s += ", bounding set empty"
	}
	return s
}

// dropPrivileges switches the whole process to id for good: the
// supplementary groups, gid and uid of every thread (Go and the C library
// apply set*id to all threads), no ambient capabilities, no bounding set
// (on every thread where the runtime lets us, at least on this one), no
// new privileges through execve. It then checks /proc/self/task/*/status
// and fails if any thread still has a capability or a root id.
func dropPrivileges(id *identity) (*dropped, error) {
	// Per-thread settings first, while CAP_SETPCAP is still there.
	perThread := func(a1, a2, a3 uintptr) error {
		_, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, a1, a2, a3)
		if errno == syscall.ENOTSUP { // cgo: this thread only
			_, _, errno = syscall.Syscall(unix.SYS_PRCTL, a1, a2, a3)
		}
		if errno != 0 {
			return errno
		}
		return nil
	}
	if err := perThread(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return nil, fmt.Errorf("drop privileges: clear ambient capabilities: %w", err)
	}
	for c := 0; c <= lastCap(); c++ {
		if err := perThread(unix.PR_CAPBSET_DROP, uintptr(c), 0); err != nil && !errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("drop privileges: drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := perThread(unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return nil, fmt.Errorf("drop privileges: no_new_privs: %w", err)
	}
	if err := syscall.Setgroups(id.groups); err != nil {
		return nil, fmt.Errorf("drop privileges: setgroups: %w", err)
	}
	if err := syscall.Setresgid(id.gid, id.gid, id.gid); err != nil {
		return nil, fmt.Errorf("drop privileges: setgid %d: %w", id.gid, err)
	}
	if err := syscall.Setresuid(id.uid, id.uid, id.uid); err != nil {
		return nil, fmt.Errorf("drop privileges: setuid %d: %w", id.uid, err)
	}
	return checkDropped(id, "/proc/self/task")
}

// checkDropped reads every thread's status under dir.
func checkDropped(id *identity, dir string) (*dropped, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("check privileges: %w", err)
	}
	d := &dropped{id: id}
	main := strconv.Itoa(os.Getpid())
	want := fmt.Sprintf("%d\t%d\t%d\t%d", id.uid, id.uid, id.uid, id.uid)
	wantG := fmt.Sprintf("%d\t%d\t%d\t%d", id.gid, id.gid, id.gid, id.gid)
	for _, e := range ents {
		st, err := readCapState(filepath.Join(dir, e.Name(), "status"))
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread ended
		}
		if err != nil {
			return nil, fmt.Errorf("check privileges: %w", err)
		}
		d.threads++
		switch {
		case st.uid != want || st.gid != wantG:
			return nil, fmt.Errorf("check privileges: thread %s has uids %q gids %q, want %d and %d", e.Name(), st.uid, st.gid, id.uid, id.gid)
		case st.eff != 0 || st.prm != 0 || st.amb != 0 || st.inh != 0:
			return nil, fmt.Errorf("check privileges: thread %s keeps capabilities (CapEff %016x CapPrm %016x CapAmb %016x CapInh %016x)", e.Name(), st.eff, st.prm, st.amb, st.inh)
		case st.bnd != 0 && e.Name() == main:
			return nil, fmt.Errorf("check privileges: the main thread keeps bounding set %016x", st.bnd)
		case st.bnd != 0:
			d.bndLeft++
		}
	}
	if d.threads == 0 {
		return nil, fmt.Errorf("check privileges: no thread under %s", dir)
	}
	return d, nil
}

// readCapState parses the Uid, Gid and Cap* lines of a status file.
func readCapState(path string) (*capState, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st := &capState{}
	seen := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		var dst *uint64
		switch k {
		case "Uid":
			st.uid = v
			seen++
		case "Gid":
			st.gid = v
			seen++
		case "CapInh":
			dst = &st.inh
		case "CapPrm":
			dst = &st.prm
		case "CapEff":
			dst = &st.eff
		case "CapBnd":
			dst = &st.bnd
		case "CapAmb":
			dst = &st.amb
		}
		if dst != nil {
			n, err := strconv.ParseUint(v, 16, 64)
			if err != nil {
				return nil, fmt.Errorf("parse %s %s: %w", path, k, err)
			}
			*dst = n
			seen++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if seen < 7 {
		return nil, fmt.Errorf("parse %s: Uid, Gid or Cap lines missing", path)
	}
	return st, nil
}

// lastCap is the kernel's highest capability number.
func lastCap() int {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			return n
		}
	}
	return 63
}
