package pktfilter

// This file holds the qualifiers of a primitive (protocol, direction,
// address type: "pqual", "dqual", "aqual" in libpcap's grammar) and the
// protocol numbers the code generator uses.

// protocol qualifiers ("pqual" in libpcap's grammar).
type qproto uint8

const (
	pDefault qproto = iota
	pLink
	pIP
	pARP
	pRARP
	pSCTP
	pTCP
	pUDP
	pICMP
	pIGMP
	pIGRP
	pPIM
	pVRRP
	pCARP
	pIP6
	pICMP6
	pAH
	pESP
	pUndef
)

var protoByKeyword = map[string]qproto{
	"link": pLink, "ip": pIP, "arp": pARP, "rarp": pRARP, "sctp": pSCTP, "tcp": pTCP, "udp": pUDP,
	"icmp": pICMP, "igmp": pIGMP, "igrp": pIGRP, "pim": pPIM, "vrrp": pVRRP, "carp": pCARP,
	"ip6": pIP6, "icmp6": pICMP6, "ah": pAH, "esp": pESP,
}

var protoName = [...]string{
	pDefault: "", pLink: "link", pIP: "ip", pARP: "arp", pRARP: "rarp", pSCTP: "sctp", pTCP: "tcp",
	pUDP: "udp", pICMP: "icmp", pIGMP: "igmp", pIGRP: "igrp", pPIM: "pim", pVRRP: "vrrp",
	pCARP: "carp", pIP6: "ip6", pICMP6: "icmp6", pAH: "ah", pESP: "esp", pUndef: "",
}

// unsupportedKeywords are libpcap keywords whose primitives pktfilter does
// not implement.
var unsupportedKeywords = map[string]bool{
	"radio": true, "atalk": true, "aarp": true, "decnet": true, "lat": true, "sca": true,
	"moprc": true, "mopdl": true, "iso": true, "esis": true, "isis": true, "l1": true, "l2": true,
	"iih": true, "lsp": true, "snp": true, "csnp": true, "psnp": true, "clnp": true,
	"ipx": true, "netbeui": true, "gateway": true, "type": true, "subtype": true,
	"dir": true, "addr1": true, "addr2": true, "addr3": true, "addr4": true, "ra": true, "ta": true,
	"inbound": true, "outbound": true, "ifindex": true,
	"lane": true, "metac": true, "bcc": true, "oam": true, "oamf4": true,
	"oamf4ec": true, "oamf4sc": true, "sc": true, "ilmic": true, "vpi": true, "vci": true,
	"connectmsg": true, "metaconnect": true, "ifname": true, "rset": true, "rnr": true, "srnr": true,
	"reason": true, "action": true, "fisu": true, "lssu": true, "msu": true, "hfisu": true,
	"hlssu": true, "hmsu": true, "sio": true, "opc": true, "dpc": true, "sls": true, "hsio": true,
	"hopc": true, "hdpc": true, "hsls": true,
}

// direction qualifiers.
type qdir uint8

const (
	dDefault qdir = iota
	dSrc
	dDst
	dOr
	dAnd
	dUndef
)

// address-type qualifiers.
type qaddr uint8

const (
	aqDefault qaddr = iota
	aqHost
	aqNet
	aqPort
	aqPortRange
	aqProto
	aqProtochain
	aqUndef
)

// qual is the qualifier set that an address inherits ("port 53 or 80").
type qual struct {
	proto qproto
	dir   qdir
	addr  qaddr
}

var qerr = qual{proto: pUndef, dir: dUndef, addr: aqUndef}

// EtherTypes and IP protocol numbers used by the code generator.
const (
	etherIP     = 0x0800
	etherARP    = 0x0806
	etherRARP   = 0x8035
	etherIP6    = 0x86dd
	ether8021Q  = 0x8100
	ether8021AD = 0x88a8
	etherQinQ   = 0x9100
	etherMPLS   = 0x8847
	etherPPPoED = 0x8863
	etherPPPoES = 0x8864
	llcsapSTP   = 0x42

	pppMPLSUnicast = 0x0281
	genevePort     = 6081

	ipprotoICMP  = 1
	ipprotoIGMP  = 2
	ipprotoIGRP  = 9
	ipprotoTCP   = 6
	ipprotoUDP   = 17
	ipprotoFrag  = 44
	ipprotoESP   = 50
	ipprotoAH    = 51
	ipprotoICMP6 = 58
	ipprotoPIM   = 103
	ipprotoVRRP  = 112
	ipprotoSCTP  = 132
	protoUndef   = -1
)
