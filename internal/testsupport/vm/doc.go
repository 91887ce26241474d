// Package vm boots real Debian kernels under qemu (TCG, no KVM needed) with
// a small generated initramfs, runs a busybox shell script in them and
// brings the files the guest wrote to /out back to the host.
//
// It is the harness behind the real-kernel end-to-end tests in vmtest/ and
// scripts/vmrun. The pieces are usable on their own:
//
//   - [Resolve] and [Fetch] find the newest Debian cloud kernel of a series
//     ("5.10" bullseye, "6.1" and "6.12" bookworm, "latest" sid) in the
//     harness's own apt configuration (an APT_CONFIG under <cache>/apt with
//     its own sources and lists: the host's apt is never changed), download
//     it with apt-get download and unpack it with dpkg-deb: one
//     linux-image .deb, or from trixie on the linux-binary, linux-modules
//     and linux-base packages the linux-image meta package names.
//   - [Kernel.ModuleClosure] resolves kernel modules and their dependencies
//     from the depends= strings of the modules' .modinfo sections.
//   - [CPIOWriter] and [BuildInitramfs] write a gzip-compressed newc
//     initramfs with static busybox, the requested files (dynamically
//     linked binaries bring the libraries ldd lists and the loader), the
//     modules and an /init script.
//   - [Run] boots it with qemu-system-x86_64 -accel tcg, watches the serial
//     console for the exit marker /init prints, enforces a timeout and
//     extracts the tar stream the guest wrote to its raw virtio output disk.
//
// Nothing here needs root except what apt-get download and qemu need (no
// root for either). The package shells out to apt-get, dpkg-deb,
// xz, ldd, busybox and qemu-system-x86_64; scripts/install-deps.sh installs
// them.
package vm
