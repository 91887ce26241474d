package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Kernel is a Debian kernel image package unpacked on the host.
type Kernel struct {
	Series  string // what was asked for, e.g. "6.12"
	Package string // e.g. "linux-image-6.12.117+deb12-cloud-amd64"
	Version string // Debian package version, e.g. "6.12.117-1~deb12u1"
	Release string // uname -r of the kernel, e.g. "6.12.117+deb12-cloud-amd64"
	Root    string // directory the package was unpacked into
	Vmlinuz string // path of the bootable image
	ModDir  string // Root/lib/modules/<Release>
}

// String returns "<series> (<package> <version>)".
func (k *Kernel) String() string {
	return fmt.Sprintf("%s (%s %s)", k.Series, k.Package, k.Version)
}

// Series the harness knows how to resolve. Each maps to the Debian
// meta-packages that depend on the newest image of that series, tried in
// order; the first whose dependency starts with "linux-image-<series>"
// wins.
var seriesMeta = map[string][]string{
	"6.1":  {"linux-image-6.1-cloud-amd64", "linux-image-cloud-amd64"},
	"6.12": {"linux-image-6.12-cloud-amd64", "linux-image-cloud-amd64"},
}

// KnownSeries lists the kernel series [Resolve] understands, oldest first.
func KnownSeries() []string {
	s := make([]string, 0, len(seriesMeta))
	for k := range seriesMeta {
		s = append(s, k)
	}
	sort.Slice(s, func(i, j int) bool { return versionLess(s[i], s[j]) })
	return s
}

func versionLess(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x < y
		}
	}
	return len(pa) < len(pb)
}

// Resolve names the newest Debian kernel image package of series ("6.1",
// "6.12") according to the host's apt metadata, without pinning a version.
// A full package name ("linux-image-...") is returned unchanged.
func Resolve(ctx context.Context, series string) (string, error) {
	pkg, _, err := resolveVersion(ctx, series)
	return pkg, err
}

// pkgVersion is a package name with the version a meta-package asks for
// ("" = unknown).
type pkgVersion struct{ pkg, version string }

var (
	metaMu   sync.Mutex
	metaDeps map[string][]pkgVersion // meta-package -> its linux-image-* dependencies
)

// metaDependencies reads the dependencies of every known meta-package with
// one apt-cache call (apt-cache is slow where its binary cache is
// disabled, as in Debian's container images) and remembers them for the
// life of the process.
func metaDependencies(ctx context.Context) (map[string][]pkgVersion, error) {
	metaMu.Lock()
	defer metaMu.Unlock()
	if metaDeps != nil {
		return metaDeps, nil
	}
	args := []string{"show", "--no-all-versions"}
	seen := map[string]bool{}
	for _, series := range KnownSeries() {
		for _, m := range seriesMeta[series] {
			if !seen[m] {
				seen[m] = true
				args = append(args, m)
			}
		}
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "apt-cache", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("read kernel meta-packages: apt-cache show: %w: %s", err, firstLine(stderr.Bytes()))
	}
	metaDeps = parseMetaStanzas(out)
	return metaDeps, nil
}

// parseMetaStanzas maps each Package of apt-cache show output to the
// linux-image-* entries of its Depends field.
func parseMetaStanzas(out []byte) map[string][]pkgVersion {
	deps := map[string][]pkgVersion{}
	for _, stanza := range strings.Split(string(out), "\n\n") {
		var name, depends string
		for _, line := range strings.Split(stanza, "\n") {
			if v, ok := strings.CutPrefix(line, "Package: "); ok {
				name = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Depends: "); ok {
				depends = v
			}
		}
		if name == "" {
			continue
		}
		for _, d := range strings.FieldsFunc(depends, func(r rune) bool { return r == ',' || r == '|' }) {
			d = strings.TrimSpace(d)
			n, rest, _ := strings.Cut(d, " ")
			if !strings.HasPrefix(n, "linux-image-") {
				continue
			}
			pv := pkgVersion{pkg: n}
			if v, ok := strings.CutPrefix(strings.TrimSpace(rest), "(= "); ok {
				pv.version = strings.TrimSuffix(v, ")")
			}
			deps[name] = append(deps[name], pv)
		}
	}
	return deps
}

// resolveVersion is [Resolve] plus the version the meta-package names.
func resolveVersion(ctx context.Context, series string) (string, string, error) {
	if strings.HasPrefix(series, "linux-image-") {
		return series, "", nil
	}
	metas, ok := seriesMeta[series]
	if !ok {
		return "", "", fmt.Errorf("resolve kernel %q: unknown series (known: %s)", series, strings.Join(KnownSeries(), ", "))
	}
	all, err := metaDependencies(ctx)
	if err != nil {
		return "", "", fmt.Errorf("resolve kernel %s: %w", series, err)
	}
	want := "linux-image-" + series
	var tried []string
	for _, meta := range metas {
		for _, d := range all[meta] {
			if strings.HasPrefix(d.pkg, want+".") || strings.HasPrefix(d.pkg, want+"-") {
				return d.pkg, d.version, nil
			}
		}
		tried = append(tried, fmt.Sprintf("%s depends on %v", meta, all[meta]))
	}
	return "", "", fmt.Errorf("resolve kernel %s: no linux-image-%s package in the apt metadata (%s); run scripts/install-deps.sh, which adds bookworm-security and runs apt-get update",
		series, series, strings.Join(tried, "; "))
}

func firstLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// DefaultCacheDir returns the kernel cache directory: $PWRU_VM_CACHE if
// set, else .cache/kernels in the module root above the working directory
// (the directory holding go.mod), else the user cache directory.
func DefaultCacheDir() (string, error) {
	if d := os.Getenv("PWRU_VM_CACHE"); d != "" {
		return d, nil
	}
	if root, err := ModuleRoot(); err == nil {
		return filepath.Join(root, ".cache", "kernels"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find cache directory: %w", err)
	}
	return filepath.Join(d, "pwru-record", "kernels"), nil
}

// ModuleRoot returns the nearest directory at or above the working
// directory that contains a go.mod file.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Fetch resolves series with [Resolve], downloads the package with
// apt-get download into cacheDir ("" = [DefaultCacheDir]) unless it is
// there already, unpacks it with dpkg-deb -x (once) and returns the
// unpacked kernel. Concurrent callers (also in other processes) are
// serialized with a lock file in cacheDir.
func Fetch(ctx context.Context, series, cacheDir string) (*Kernel, error) {
	if cacheDir == "" {
		var err error
		if cacheDir, err = DefaultCacheDir(); err != nil {
			return nil, err
		}
	}
	pkg, ver, err := resolveVersion(ctx, series)
	if err != nil {
		return nil, err
	}
	if ver == "" {
		if ver, err = candidateVersion(ctx, pkg); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("fetch kernel %s: %w", pkg, err)
	}
	unlock, err := lockDir(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("fetch kernel %s: %w", pkg, err)
	}
	defer unlock()

	base := pkg + "_" + strings.ReplaceAll(ver, ":", "%3a")
	root := filepath.Join(cacheDir, base)
	if _, err := os.Stat(filepath.Join(root, ".unpacked")); err != nil {
		deb, err := download(ctx, pkg, ver, cacheDir)
		if err != nil {
			return nil, err
		}
		tmp := root + ".tmp"
		os.RemoveAll(tmp)
		if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
			os.RemoveAll(tmp)
			return nil, fmt.Errorf("unpack %s: dpkg-deb -x: %w: %s", deb, err, strings.TrimSpace(string(out)))
		}
		if err := os.WriteFile(filepath.Join(tmp, ".unpacked"), []byte(pkg+" "+ver+"\n"), 0o644); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", deb, err)
		}
		os.RemoveAll(root)
		if err := os.Rename(tmp, root); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", deb, err)
		}
	}
	return openKernel(series, pkg, ver, root)
}

func openKernel(series, pkg, ver, root string) (*Kernel, error) {
	k := &Kernel{Series: series, Package: pkg, Version: ver, Root: root}
	imgs, _ := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if len(imgs) != 1 {
		return nil, fmt.Errorf("open kernel %s: want one boot/vmlinuz-* in %s, found %d", pkg, root, len(imgs))
	}
	k.Vmlinuz = imgs[0]
	k.Release = strings.TrimPrefix(filepath.Base(imgs[0]), "vmlinuz-")
	for _, d := range []string{"lib", "usr/lib"} {
		md := filepath.Join(root, d, "modules", k.Release)
		if st, err := os.Stat(md); err == nil && st.IsDir() {
			k.ModDir = md
			break
		}
	}
	if k.ModDir == "" {
		return nil, fmt.Errorf("open kernel %s: no modules directory for %s under %s", pkg, k.Release, root)
	}
	return k, nil
}

// candidateVersion asks apt which version of pkg it would install.
func candidateVersion(ctx context.Context, pkg string) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", pkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("show package %s: apt-cache: %w: %s", pkg, err, firstLine(out))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Version: "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("show package %s: no Version field in apt-cache output", pkg)
}

// download fetches pkg=ver into dir unless a .deb of that version is there.
func download(ctx context.Context, pkg, ver, dir string) (string, error) {
	name := fmt.Sprintf("%s_%s_amd64.deb", pkg, strings.ReplaceAll(ver, ":", "%3a"))
	deb := filepath.Join(dir, name)
	if _, err := os.Stat(deb); err == nil {
		return deb, nil
	}
	tmp, err := os.MkdirTemp(dir, "download-")
	if err != nil {
		return "", fmt.Errorf("download %s: %w", pkg, err)
	}
	defer os.RemoveAll(tmp)
	// apt-get download runs as the _apt user when started as root; let it
	// write into the temporary directory.
	os.Chmod(tmp, 0o777)
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg+"="+ver)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("download %s: apt-get download: %w: %s", pkg, err, strings.TrimSpace(string(out)))
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("download %s: apt-get download left %d .deb files", pkg, len(debs))
	}
	if err := os.Rename(debs[0], deb); err != nil {
		return "", fmt.Errorf("download %s: %w", pkg, err)
	}
	return deb, nil
}

// lockDir takes an exclusive flock on dir/.lock.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}
