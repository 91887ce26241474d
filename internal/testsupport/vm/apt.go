package vm

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// The harness downloads kernels through its own apt configuration (an
// APT_CONFIG file under <cache>/apt): its own sources, lists, cache and an
// empty dpkg status, none of the host's apt.conf.d. Adding bullseye or sid
// there never changes what the host's apt installs or upgrades.

// aptSource is one suite of Debian's archive the harness reads.
type aptSource struct{ uri, suite string }

// aptSources are the suites whose cloud kernels the harness boots.
var aptSources = []aptSource{
	{"http://deb.debian.org/debian", "bullseye"},
	{"http://deb.debian.org/debian", "bookworm"},
	{"http://deb.debian.org/debian-security", "bookworm-security"},
	{"http://deb.debian.org/debian", "trixie"},
	{"http://deb.debian.org/debian", "sid"},
}

// archiveKeyring verifies the suites' Release files (debian-archive-keyring).
const archiveKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// aptMaxAge is how old the private lists may be before a run refreshes
// them ($PWRU_VM_APT_MAXAGE, a Go duration, overrides it; 0 refreshes
// every run).
const aptMaxAge = 6 * time.Hour

// aptSourcesList renders the one-line sources.list of the private apt.
// Its first line names the package's old path (internal/vm): the text is
// compared with the cached copy, and a change refreshes the shared apt
// lists of every checkout, so it stays as it was.
func aptSourcesList() string {
	var b strings.Builder
	b.WriteString("# written by the pwru-record VM harness (internal/vm/apt.go)\n")
	for _, s := range aptSources {
		fmt.Fprintf(&b, "deb [signed-by=%s] %s %s main\n", archiveKeyring, s.uri, s.suite)
	}
	return b.String()
}

// aptConfText renders the APT_CONFIG file for the private apt in dir.
func aptConfText(dir string) string {
	p := func(n string) string { return filepath.Join(dir, n) }
	// Acquire::Check-Valid-Until: the mirror may serve a frozen snapshot
	// whose Release files are past their Valid-Until date; signatures are
	// still checked against the archive keyring.
	return fmt.Sprintf(`// written by the pwru-record VM harness (internal/vm/apt.go)
Dir::Etc::Main %q;
Dir::Etc::Parts %q;
Dir::Etc::SourceList %q;
Dir::Etc::SourceParts %q;
Dir::Etc::Preferences %q;
Dir::Etc::PreferencesParts %q;
Dir::Etc::TrustedParts %q;
Dir::State::Lists %q;
Dir::State::status %q;
Dir::Cache %q;
APT::Architectures { "amd64"; };
Acquire::Languages "none";
Acquire::GzipIndexes "false";
Acquire::Check-Valid-Until "false";
`, p("apt.conf"), p("apt.conf.d"), p("sources.list"), p("sources.list.d"), p("preferences"),
		p("preferences.d"), p("trusted.gpg.d"), p("lists"), p("status"), p("cache"))
}

// privateApt is the harness's apt configuration in a cache directory.
type privateApt struct {
	dir  string // <cache>/apt
	conf string // the APT_CONFIG file
}

// env returns the environment for apt commands using the configuration.
func (a *privateApt) env() []string {
	return append(os.Environ(), "APT_CONFIG="+a.conf)
}

func (a *privateApt) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = a.env()
	return cmd
}

// setupApt writes the private configuration under cacheDir/apt and runs
// apt-get update when the lists are missing, older than the maximum age or
// were fetched for other sources. A failed update with lists already there
// is a warning on stderr (the old lists still resolve kernels), not an
// error.
func setupApt(ctx context.Context, cacheDir string) (*privateApt, error) {
	a := &privateApt{dir: filepath.Join(cacheDir, "apt")}
	a.conf = filepath.Join(a.dir, "apt.conf")
	for _, d := range []string{"apt.conf.d", "sources.list.d", "preferences.d", "trusted.gpg.d", "lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("set up kernel apt: %w", err)
		}
	}
	unlock, err := lockDir(a.dir)
	if err != nil {
		return nil, fmt.Errorf("set up kernel apt: %w", err)
	}
	defer unlock()
	if _, err := os.Stat(archiveKeyring); err != nil {
		return nil, fmt.Errorf("set up kernel apt: %w (install debian-archive-keyring: scripts/install-deps.sh)", err)
	}
	sources := aptSourcesList()
	changed := false
	for name, text := range map[string]string{"apt.conf": aptConfText(a.dir), "sources.list": sources, "status": ""} {
		p := filepath.Join(a.dir, name)
		if old, err := os.ReadFile(p); err == nil && string(old) == text {
			continue
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return nil, fmt.Errorf("set up kernel apt: %w", err)
		}
		changed = changed || name == "sources.list"
	}
	maxAge := aptMaxAge
	if s := os.Getenv("PWRU_VM_APT_MAXAGE"); s != "" {
		if maxAge, err = time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("set up kernel apt: PWRU_VM_APT_MAXAGE: %w", err)
		}
	}
	stamp := filepath.Join(a.dir, "lists", ".updated")
	st, err := os.Stat(stamp)
	fresh := err == nil && time.Since(st.ModTime()) < maxAge
	if fresh && !changed {
		return a, nil
	}
	start := time.Now()
	out, err := a.command(ctx, "apt-get", "update", "-q").CombinedOutput()
	// apt-get update exits 0 even when a suite failed ("W: Failed to
	// fetch"); an "E:" line or a non-zero status is a failure.
	if err == nil && bytes.Contains(out, []byte("\nE: ")) {
		err = fmt.Errorf("%s", errorLines(out))
	}
	if err != nil {
		if st != nil && !changed {
			fmt.Fprintf(os.Stderr, "vm: warning: apt-get update of the kernel sources failed (%v: %s); resolving kernels with the lists of %s\n",
				err, errorLines(out), st.ModTime().UTC().Format(time.RFC3339))
			return a, nil
		}
		return nil, fmt.Errorf("update kernel apt lists: apt-get update: %w: %s", err, errorLines(out))
	}
	if err := os.WriteFile(stamp, nil, 0o644); err != nil {
		return nil, fmt.Errorf("update kernel apt lists: %w", err)
	}
	fmt.Fprintf(os.Stderr, "vm: apt-get update of the kernel sources (%s) took %.1fs\n", strings.Join(suiteNames(), ", "), time.Since(start).Seconds())
	return a, nil
}

func suiteNames() []string {
	var s []string
	for _, src := range aptSources {
		s = append(s, src.suite)
	}
	return s
}

// errorLines returns apt's E: and W: lines, or its last line.
func errorLines(out []byte) string {
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "E: ") || strings.HasPrefix(l, "W: ") {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		s := strings.TrimSpace(string(out))
		return s[strings.LastIndexByte(s, '\n')+1:]
	}
	return strings.Join(keep, "; ")
}

// debPackage is one stanza of a Packages index.
type debPackage struct {
	Name    string
	Version string
	Depends string // the raw Depends field
	Suite   string // the suite whose index listed it
}

// catalog is the linux-* packages of every suite: suite -> name -> versions.
type catalog map[string]map[string][]debPackage

// parsePackages reads a Packages index and keeps the stanzas whose package
// name keep accepts. Stanzas without a Package or Version are skipped.
func parsePackages(r io.Reader, suite string, keep func(name string) bool) ([]debPackage, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var out []debPackage
	var cur debPackage
	skip := false
	flush := func() {
		if !skip && cur.Name != "" && cur.Version != "" {
			cur.Suite = suite
			out = append(out, cur)
		}
		cur, skip = debPackage{}, false
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			flush()
			continue
		}
		if skip {
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("Package:")); ok {
			cur.Name = string(bytes.TrimSpace(v))
			skip = !keep(cur.Name)
		} else if v, ok := bytes.CutPrefix(line, []byte("Version:")); ok {
			cur.Version = string(bytes.TrimSpace(v))
		} else if v, ok := bytes.CutPrefix(line, []byte("Depends:")); ok {
			cur.Depends = string(bytes.TrimSpace(v))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read packages index of %s: %w", suite, err)
	}
	flush()
	return out, nil
}

// dependency is one alternative of a Depends field.
type dependency struct {
	Name    string
	Version string // the version an "(= v)" relation pins, else ""
}

// parseDepends splits a Depends field into its alternatives, in order.
func parseDepends(field string) []dependency {
	var out []dependency
	for _, d := range strings.FieldsFunc(field, func(r rune) bool { return r == ',' || r == '|' }) {
		d = strings.TrimSpace(d)
		name, rest, _ := strings.Cut(d, " ")
		name, _, _ = strings.Cut(name, ":") // name:any
		if name == "" {
			continue
		}
		dep := dependency{Name: name}
		rest = strings.TrimSpace(rest)
		if v, ok := strings.CutPrefix(rest, "(="); ok {
			dep.Version = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), ")"))
		}
		out = append(out, dep)
	}
	return out
}

func kernelPackageName(name string) bool { return strings.HasPrefix(name, "linux-") }

var (
	catalogMu    sync.Mutex
	catalogCache = map[string]catalog{} // APT_CONFIG file -> catalog
)

// loadCatalog reads the linux-* stanzas of every Packages index apt lists
// for the private configuration (apt-get indextargets names the files and
// their suites), once per process.
func (a *privateApt) loadCatalog(ctx context.Context) (catalog, error) {
	catalogMu.Lock()
	defer catalogMu.Unlock()
	if c, ok := catalogCache[a.conf]; ok {
		return c, nil
	}
	var stderr bytes.Buffer
	cmd := a.command(ctx, "apt-get", "indextargets", "--format", "$(RELEASE) $(FILENAME)", "Created-By: Packages")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list kernel apt indexes: apt-get indextargets: %w: %s", err, firstLine(stderr.Bytes()))
	}
	c := catalog{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		suite, file, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		f, err := os.Open(file)
		if os.IsNotExist(err) {
			continue // a suite whose update failed
		}
		if err != nil {
			return nil, fmt.Errorf("read kernel apt index: %w", err)
		}
		pkgs, err := parsePackages(f, suite, kernelPackageName)
		f.Close()
		if err != nil {
			return nil, err
		}
		if c[suite] == nil {
			c[suite] = map[string][]debPackage{}
		}
		for _, p := range pkgs {
			c[suite][p.Name] = append(c[suite][p.Name], p)
		}
	}
	if len(c) == 0 {
		return nil, fmt.Errorf("list kernel apt indexes: no Packages index under %s (apt-get update failed?)", filepath.Join(a.dir, "lists"))
	}
	catalogCache[a.conf] = c
	return c, nil
}

// download fetches name=version into dir unless a .deb of that version is
// there, and returns the .deb's path.
func (a *privateApt) download(ctx context.Context, name, version, dir string) (string, error) {
	deb := filepath.Join(dir, fmt.Sprintf("%s_%s_amd64.deb", name, strings.ReplaceAll(version, ":", "%3a")))
	if _, err := os.Stat(deb); err == nil {
		return deb, nil
	}
	tmp, err := os.MkdirTemp(dir, "download-")
	if err != nil {
		return "", fmt.Errorf("download %s: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	// apt-get download runs as the _apt user when started as root; let it
	// write into the temporary directory.
	os.Chmod(tmp, 0o777)
	cmd := a.command(ctx, "apt-get", "download", "-q", name+"="+version)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("download %s=%s: apt-get download: %w: %s", name, version, err, errorLines(out))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("download %s: apt-get download left %d .deb files", name, len(debs))
	}
	if err := os.Rename(debs[0], deb); err != nil {
		return "", fmt.Errorf("download %s: %w", name, err)
	}
	return deb, nil
}
