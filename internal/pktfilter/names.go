package pktfilter

// service is a well-known port: its TCP and UDP numbers, -1 when the
// service has none over that protocol. The table follows the IANA
// registry as shipped in Debian's /etc/services; pktfilter does not read
// the analyzing machine's files, so verdicts do not depend on it.
type service struct {
	tcp, udp int
}

var services = map[string]service{
	"ftp-data": {20, -1}, "ftp": {21, -1}, "ssh": {22, -1}, "telnet": {23, -1},
	"smtp": {25, -1}, "mail": {25, -1}, "domain": {53, 53}, "bootps": {-1, 67}, "bootpc": {-1, 68},
	"tftp": {-1, 69}, "http": {80, -1}, "www": {80, -1}, "kerberos": {88, 88}, "pop3": {110, -1},
	"ntp": {-1, 123}, "netbios-ns": {-1, 137}, "imap2": {143, -1}, "imap": {143, -1},
	"snmp": {161, 161}, "snmp-trap": {162, 162}, "bgp": {179, -1}, "ldap": {389, 389},
	"https": {443, 443}, "microsoft-ds": {445, -1}, "isakmp": {-1, 500}, "syslog": {-1, 514},
	"submission": {587, -1}, "ldaps": {636, 636}, "rsync": {873, -1}, "imaps": {993, -1},
	"pop3s": {995, -1}, "openvpn": {1194, 1194}, "ms-sql-s": {1433, -1}, "radius": {1812, 1812},
	"nfs": {2049, 2049}, "mysql": {3306, -1}, "ipsec-nat-t": {-1, 4500}, "sip": {5060, 5060},
	"xmpp-client": {5222, -1}, "postgresql": {5432, -1}, "postgres": {5432, -1},
	"redis": {6379, -1}, "http-alt": {8080, -1}, "webcache": {8080, -1},
}

// ipProtocols are IP protocol names as in /etc/protocols (for
// "ip proto \name").
var ipProtocols = map[string]uint32{
	"ip": 0, "hopopt": 0, "icmp": 1, "igmp": 2, "ggp": 3, "ipencap": 4, "st": 5, "tcp": 6, "egp": 8,
	"igp": 9, "pup": 12, "udp": 17, "hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29, "dccp": 33,
	"xtp": 36, "ddp": 37, "idpr-cmtp": 38, "ipv6": 41, "ipv6-route": 43, "ipv6-frag": 44, "idrp": 45,
	"rsvp": 46, "gre": 47, "esp": 50, "ah": 51, "skip": 57, "ipv6-icmp": 58, "ipv6-nonxt": 59,
	"ipv6-opts": 60, "rspf": 73, "vmtp": 81, "eigrp": 88, "ospf": 89, "ax.25": 93, "ipip": 94,
	"etherip": 97, "encap": 98, "pim": 103, "ipcomp": 108, "vrrp": 112, "l2tp": 115, "isis": 124,
	"sctp": 132, "fc": 133, "mobility-header": 135, "udplite": 136, "mpls-in-ip": 137, "manet": 138,
	"hip": 139, "shim6": 140, "wesp": 141, "rohc": 142, "ethernet": 143,
}

// etherProtocols are libpcap's built-in EtherType names (for
// "ether proto \name").
var etherProtocols = map[string]uint32{
	"aarp": 0x80f3, "arp": 0x0806, "atalk": 0x809b, "decnet": 0x6003, "ip": 0x0800, "ip6": 0x86dd,
	"lat": 0x6004, "loopback": 0x9000, "mopdl": 0x6001, "moprc": 0x6002, "rarp": 0x8035, "sca": 0x6007,
}
