// Package report is the result format the VM test guest (vmtest/guest)
// writes for each scenario and the host tests (vmtest) read back: what the
// guest set up, what it sent and received, how each recorder run ended.
package report
