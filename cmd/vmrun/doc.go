// Command vmrun boots a Debian kernel under qemu with the given host files
// and runs a shell script in it; scripts/vmrun wraps it.
//
//	vmrun -kernel 6.12 -bin bin/pwru-record -module veth -out /tmp/out -c 'pwru-record --help'
//
// Host files: -bin PATH puts PATH at /bin/<basename>; -file GUEST=HOST puts
// HOST at GUEST. Dynamically linked binaries bring their shared libraries.
// The script (-script FILE or -c TEXT) runs under busybox sh; what it
// writes to /out lands in -out. The exit status of vmrun is the script's.
package main
