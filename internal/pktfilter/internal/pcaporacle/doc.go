// Package pcaporacle compiles pcap-filter expressions with the system's
// libpcap (through cgo) and runs them over packets with
// pcap_offline_filter. It exists only to give the pure-Go matcher in
// package pktfilter an authoritative oracle in tests, and builds only on
// linux with cgo; elsewhere it is empty.
package pcaporacle
