package pktfilter

// conformanceExprs are the expressions of the libpcap conformance test.
// They are also fuzz seeds and benchmark inputs.
var conformanceExprs = []string{
	// Protocols.
	"ip", "ip6", "tcp", "udp", "sctp", "icmp", "icmp6", "arp", "rarp", "igmp", "pim", "vrrp", "ah", "esp",
	"not ip", "ip or ip6", "tcp or udp", "!tcp && !udp",
	// Hosts and networks.
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.1", "src or dst host 10.0.0.2",
	"src and dst host ::1", "host 10.0.0.1 or 8.8.8.8", "host 10.0.0.1 and not 10.0.0.2",
	"ip host 10.0.0.2", "arp host 10.0.0.2", "rarp host 192.168.7.7", "ip src 192.168.1.10",
	"host 2001:db8::1", "ip6 dst host 2001:db8::2", "src 2001:db8::1 or 2001:db8:1::5",
	"net 10.0.0.0/8", "net 10.0.0.0/24", "src net 192.168.0.0/16", "dst net 224.0.0.0/4",
	"net 172.16.0.0 mask 255.240.0.0", "net 10", "net 192.168", "net 10.0.0", "host 10.0",
	"net 2001:db8::/32", "dst net 2001:db8:2::/48", "net ff00::/8", "ip6 net fe80::/10",
	"net 0.0.0.0/0", "src net 10.0.0.0/8 and dst net 10.0.0.0/8",
	// Ports.
	"port 80", "tcp port 80", "udp port 53", "sctp port 3868", "src port 53", "dst port 53",
	"port 53 or 80", "tcp dst port 80 or 443", "src or dst port 5353", "src and dst port 4789",
	"port http", "port domain", "udp port bootps", "tcp port ssh or https",
	"portrange 6000-6010", "tcp portrange 1-1024", "udp dst portrange 500-600", "portrange 53",
	"portrange ftp-ssh", "not port 53", "port 80 and host 10.0.0.1", "port (53 or 443)",
	// Ethernet.
	"ether host 00:11:22:33:44:55", "ether src 00:11:22:33:44:55", "ether dst ff:ff:ff:ff:ff:ff",
	"ether host 66-77-88-99-aa-bb", "ether dst 0180.c200.0000", "ether src 001122334455",
	"ether proto 0x0806", "ether proto \\ip6", "ether proto \\arp", "ether broadcast", "ether multicast",
	"broadcast", "multicast", "ip multicast", "ip6 multicast", "ether proto 0x88cc", "ether proto 0x42",
	"ether[0] & 1 != 0", "ether[12:2] = 0x800", "link[6:4] = 0x66778899",
	// Protocol numbers.
	"proto 17", "ip proto 6", "ip6 proto 58", "ip proto \\tcp", "proto \\udp", "ip6 proto \\ipv6-icmp",
	"ip proto 47", "proto 50 or proto 51", "ip6 proto 44", "ip6 proto 0",
	// VLAN.
	"vlan", "vlan 100", "vlan 200", "vlan and ip", "vlan 100 and tcp port 80", "vlan and vlan",
	"vlan 300 and vlan 400", "vlan and vlan and udp", "vlan 100 and arp", "not vlan", "vlan or ip",
	"vlan and ip6 and udp port 53", "vlan 4095 and icmp", "ip and vlan",
	// Byte accessors and arithmetic.
	"tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)",
	"tcp[13] & 2 != 0 and tcp[13] & 16 = 0", "tcp[tcpflags] & (tcp-rst|tcp-fin) != 0",
	"tcp[tcpflags] & (tcp-ece|tcp-cwr) != 0", "tcp[tcpflags] & tcp-urg != 0", "tcp[tcpflags] & tcp-push != 0",
	"icmp[icmptype] == icmp-echo", "icmp[icmptype] = icmp-echoreply", "icmp[icmptype] != icmp-echo",
	"icmp[icmpcode] = 3", "icmp[0] = icmp-unreach", "icmp[icmptype] = icmp-tstamp",
	"icmp6[icmp6type] == icmp6-echo", "icmp6[icmp6type] = icmp6-neighborsolicit", "icmp6[0] > 128",
	"ip[0] & 0xf > 5", "ip[0] & 0xf != 5", "ip[8] = 64", "ip[9] = 17", "ip[2:2] > 100", "ip[6:2] & 0x1fff != 0",
	"ip[16] >= 224", "ip6[6] = 17", "ip6[7] = 64", "ip6[8:4] = 0x20010db8", "udp[0:2] = 53 or udp[2:2] = 53",
	"udp[4:2] > 100", "tcp[2:2] = 80", "tcp[0:4] = 0x30390050", "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
	"tcp[12] >> 4 > 5", "arp[6:2] = 1", "arp[6:2] = 2", "sctp[0:2] = 3868", "ip[1] & 0xfc = 0",
	"ip[100] = 0", "tcp[100] = 1 or udp", "tcp[100] = 1 or tcp", "not tcp[100] = 1", "ip[2:2] - 20 > 40", "ip[2:2] / 2 > 30",
	"ip[2:2] * 2 < 100", "ip[2:2] % 7 = 0", "ip[0] ^ 0x45 = 0", "ip[8] | 1 = 65", "-ip[8] = -64",
	"ip[2:2] << 1 > 1000", "ip[3] >> 1 = 20", "ip[8] - ip[8] = 0", "ip[2:2] / (ip[8] - 64) = 1",
	"1 + 2 * 3 = 7", "2 * 3 + 1 = 7", "(1 + 2) * 3 = 9", "8 - 4 - 2 = 2", "7 & 3 | 4 = 7", "1 << 2 + 1 = 8",
	"10 % 3 + 1 = 2", "tcp[0] + udp[0] = 0", "1 + tcp[0] = 1", "ether[ip[0] & 0] = 0",
	// Lengths.
	"len > 100", "len <= 60", "len >= 1000", "greater 100", "less 64", "len = 54", "length > 1400",
	"len - 14 > 50",
	// Combinations and precedence.
	"tcp or udp and port 53", "(tcp or udp) and port 53", "tcp and (port 80 or port 443)",
	"not (tcp or udp)", "not tcp and not udp", "ip and not icmp and not tcp", "host 10.0.0.1 and (tcp or icmp)",
	"(host 10.0.0.1 or host 10.0.0.2) and port 80", "ip6 and not icmp6", "arp or rarp or vlan",
	"host 10.0.0.1 or (tcp) or 10.0.0.9", "(ip[8] = 64)", "((tcp))", "not not tcp",
	"src host 10.0.0.1 and dst port 80 and tcp[tcpflags] & tcp-syn != 0",
	"ip and ip[2:2] > 40 or ip6 and ip6[4:2] > 20", "udp and not port 53 and not port 5353",
	"tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
	"ip proto \\icmp or ip6 proto \\ipv6-icmp", "dst host 10.0.0.2 and src 10.0.0.1",
	"byte 23 = 6", "byte 0 < 0x46", "byte 14 > 0x45",
	// More inheritance, offsets and arithmetic corners.
	"vlan 100 or vlan 200", "vlan and (ip or ip6)", "(vlan) and ip", "not vlan and ip", "vlan and not vlan",
	"ether src 0:11:22:33:44:55", "host 10.0.0.1 or not 10.0.0.2", "host 10.0.0.1 and (not 10.0.0.2)",
	"src port 53 or dst 80", "ip proto 6 or 17", "ether proto 0x800 or 0x86dd", "ip6 proto 17 or 6",
	"greater 60 and less 100", "icmp6 and ip6[40] = 135", "-1 = 0xffffffff", "0 - 1 = 0xffffffff",
	"0xffffffff + 1 = 0", "ip[0] - 0x40 >= 5", "tcp[tcpflags] = tcp-syn", "ip6[6] = 44 and ip6[40] = 17",
	"udp port 53 and udp[10] & 0x80 = 0", "ip[2:2] * 0x10000 * 0x10000 = 0", "tcp[13] & 0x12 = 0x12 or icmp",
	"arp and arp[7] = 1", "rarp[7] = 3", "net 10.0.0.0 mask 255.0.0.0", "dst net 255.255.255.255/32",
	"net 192.168.0/24", "host 10.0.0.1 and host 10.0.0.2", "ip[0:4] & 0xffff0000 = 0x45000000",
	"ether[14] = 0x45 or ether[18] = 0x45", "link[12:2] = 0x8100",
	"icmp[icmptype] = icmp-echo or icmp6[icmp6type] = icmp6-echo", "tcp[13] = 2 and ip[6] & 0x40 != 0",
	"sctp[12] = 0", "udp[8:4] = 0x12340100", "portrange 50000-40000", "sctp portrange 3000-4000",
	"src portrange 53-53", "port 0x50", "port 0120", "host 010.0.0.1", "ether host 00:11:22:33:44:55 and ip",
	"ip6 and ip6[0] & 0xf0 = 0x60", "ip[0] >> 4 = 4", "proto 58", "ip6 and tcp[0] = 0",
	"udp[1] = 53 or tcp[1] = 80 or sctp[1] = 0x1c", "(ip[8] = 64) and (ip[9] = 6)", "(ip[8]) = 64",
	"((ip[8] + 1)) = 65", "(1) = 1", "1 = 1", "0 = 1", "not 1 = 1", "len = len", "tcp[0] / (len - len) = 0",
	"ip[2:2] & 0xffff = len - 14", "ip[2:2] = len - 14 or ip6[4:2] = len - 54", "ip[0] / tcp[1] = 1",
	"ip[0] / (0 + 1) = 1", "ip[0] / tcp[0] = 1", "ip6[24:4] & 0xff000000 = 0xff000000",
	"vlan 100 or 200", "host 10.0.0.1 and port 80 or 443", "ether src 00:11:22:33:44:55 or 66:77:88:99:aa:bb",
	"tcp src port 80 or dst port 80", "TCP", "\\tcp", "ip proto tcp", "ether proto \\loopback",
	"arp net 10.0.0.0/8", "rarp src net 192.168.7.0/24", "src net 10", "dst net 10.0 or 172.16",
	"not (host 10.0.0.1 or 10.0.0.2) and ip", "ip6 src host ::1 or fe80::1", "ether dst 01:00:5e:00:00:01 or ff:ff:ff:ff:ff:ff",
	"icmp6 and icmp6[icmp6type] = icmp6-neighborsolicit or icmp6[icmp6type] = icmp6-routeradvert",
	"pim or vrrp or igrp or carp", "igmp[0] = 0x11", "udp[udp[0] & 0] = 0x13", "vlan and vlan and vlan",
	"ether[12:2] = 0x8100 and ether[14:2] & 0xfff = 100", "less 14", "greater 0", "len >= 0",
	// Rejected by both (the test requires libpcap to reject what Compile rejects).
	"1.2.3.4", "tcp or 1.2.3.4", "port 80-90", "ip6 host 10.0.0.1", "tcp host 10.0.0.1", "net 10.0.0.1/8",
	"host 10.0.0.0/8", "ether host 10.0.0.1", "00:11:22:33:44:55", "ip[0:3] = 1", "ip[0] / 0 = 1",
	"1 << 32 = 0", "vlan 5000", "src proto 6", "src or src host 1.1.1.1", "port 70000", "udp port ssh",
	"tcp port bootps", "proto \\nosuch", "ether proto \\nosuch", "arp proto 6", "tcp proto 6", "()", "tcp and",
	"host", "len-1 > 2", "ip[0] & (tcp) = 1", "port 53 and not (8.8.8.8)", "ip host 2001:db8::1",
	"net 2001:db8::1/32", "host 2001:db8::/32", "ether proto 70000 = 1", "tcp[0", "ip[0] = ", "port 53 or",
	"not", "(tcp", "tcp)", "ip 10.0.0.1", "host 256.0.0.1", "less", "greater x", "vlan 1 2",
}

// encapExprs exercise MPLS, PPPoE, Geneve, 802.2 LLC, STP and protochain
// (issue 16); they are part of conformanceExprs.
var encapExprs = []string{
	// MPLS: the label stack shifts the network header by 4 bytes a label.
	"mpls", "mpls 100", "mpls 200", "mpls 300", "mpls (100)", "mpls and ip", "mpls and ip6", "mpls 100 and udp port 53",
	"mpls and mpls", "mpls 200 and mpls 300 and tcp port 80", "mpls and mpls and ip", "mpls and mpls and mpls and udp",
	"mpls and tcp", "mpls and ip[9] = 17", "mpls and ip host 10.0.0.1", "mpls and ip6 and tcp", "mpls and port 80",
	"mpls and ether host 00:11:22:33:44:55", "mpls and mpls 300", "mpls 5 and mpls 6 and mpls 7", "not mpls",
	"mpls or ip", "ip or mpls", "vlan and mpls", "vlan 100 and mpls 100 and tcp", "mpls and tcp[13] & 2 != 0",
	"mpls and ether[12:2] = 0x8847", "mpls and len > 60", "mpls and ip proto 17",
	"mpls and host 10.0.0.1", "mpls and arp", "mpls and vlan", "mpls 1048576", "mpls and net 10.0.0.0/8",
	"mpls and pppoes", "mpls and mpls and vlan",
	// PPPoE: after "pppoes" the link layer is PPP inside the session.
	"pppoed", "pppoes", "pppoes 0x1234", "pppoes 1", "pppoes (7)", "pppoes and ip", "pppoes and ip6",
	"pppoes 0x1234 and tcp port 80", "pppoes and udp", "pppoes and host 10.0.0.1", "pppoes and mpls",
	"pppoes and mpls 42 and ip", "pppoed or pppoes", "not pppoes", "pppoes and ether[0] = 0x66", "pppoes and pppoes",
	"pppoes and ip[9] = 6", "pppoes and ip6 proto 17", "vlan and pppoes", "vlan and pppoes 3 and tcp", "pppoes and stp",
	"pppoes and tcp[13] & 2 != 0", "pppoes and ether proto 0xc021", "pppoes and arp", "pppoes or ip", "pppoed and len > 20",
	"pppoes and ether host 00:11:22:33:44:55", "pppoes and vlan", "pppoes and ether broadcast", "pppoes and llc",
	"pppoes 65536", "pppoes and ether multicast", "pppoes and broadcast",
	// Geneve: inner headers at offsets computed from the packet.
	"geneve", "geneve 0x123456", "geneve 7", "geneve 99", "geneve (5)", "geneve and ip", "geneve and ip6",
	"geneve and tcp port 80", "geneve 7 and udp", "geneve and udp port 53", "geneve and ether host 00:11:22:33:44:55",
	"geneve and ether src 00:11:22:33:44:55", "geneve and host 192.168.1.1", "geneve and ether proto 0x0800", "geneve and arp",
	"geneve and tcp[13] & 2 != 0", "geneve and ip[9] = 6", "geneve and ether broadcast", "geneve and ether multicast",
	"geneve and mpls", "geneve and mpls 77 and ip", "geneve and geneve", "geneve and geneve 3 and udp port 53",
	"geneve and llc", "geneve and stp", "ip and geneve", "udp port 6081 and geneve", "geneve and ether[0] = 0x66",
	"geneve and ip6 and udp", "geneve and not tcp", "geneve and (tcp or udp)", "geneve and src host 10.0.0.2",
	"geneve and net 192.168.0.0/16", "geneve and icmp", "geneve and ip[0] & 0xf = 5", "geneve and len > 100",
	"not geneve", "geneve and pppoes", "geneve 16777216",
	// 802.2 LLC and spanning tree.
	"llc", "not llc", "llc and stp", "llc or ip", "stp", "not stp", "stp or arp", "llc and ether[14] = 6",
	"ether proto 6", "ether proto 0xf0", "llc and len < 60",
	// protochain: the IP header chain.
	"ip protochain 6", "ip6 protochain 6", "protochain 6", "protochain 17", "ip6 protochain 17", "protochain 51",
	"ip6 protochain 44", "ip6 protochain 0", "ip6 protochain 43", "ip6 protochain 60", "protochain 59",
	"protochain tcp", "ip6 protochain \\udp", "protochain 6 or 17", "protochain 6 and tcp port 80",
	"not protochain 6", "vlan and protochain 6", "pppoes and protochain 6", "mpls and ip protochain 17",
	"ip protochain 50", "ip6 protochain 50", "protochain 6 or protochain 17", "ip protochain 51",
	"udp protochain 17", "geneve and protochain 6", "src protochain 6", "ip6 protochain 300",
	// Mixed.
	"mpls 100 or 200", "pppoes 1 or 2", "geneve 1 or 2", "pppoes (0x1234)", "mpls and (ip or ip6)", "mpls and not ip",
	"pppoes and (ip or ip6) and port 80", "geneve and (ip[9] = 6 or ip6[6] = 17)", "ether proto \\mpls",
	"mpls and ether proto \\ip", "geneve and ether proto \\ip", "protochain (6 or 17)", "not protochain 51 and ip6",
	"geneve and arp host 10.0.0.1", "mpls and ip6 net 2001:db8::/32", "mpls and portrange 50-100",
	"geneve and udp[0:2] = 33333", "geneve and proto 6", "pppoes and ip protochain 6", "geneve and byte 0 = 0x66",
	"mpls and byte 14 = 0", "geneve and ip6 protochain 6", "ip6 protochain 58",
	// The optimiser rejects all packets.
	"tcp port 80 and vlan", "ip and arp", "mpls and not mpls",
}

func init() { conformanceExprs = append(conformanceExprs, encapExprs...) }
