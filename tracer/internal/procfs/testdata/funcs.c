// Source of funcs.btf: a few functions shaped like kernel functions that
// take a struct sk_buff * in different argument positions. See README.md.
struct sk_buff { int len; };
struct net_device { int ifindex; };
typedef struct sk_buff skb_t;
struct sock;

int ip_rcv(struct sk_buff *skb, struct net_device *dev) { return skb->len + dev->ifindex; }
int nf_hook_slow(void *a, struct sk_buff *skb) { return skb->len; }
int third(int a, int b, struct sk_buff *skb) { return a + b + skb->len; }
int fourth(int a, int b, int c, const struct sk_buff *skb) { return a + b + c + skb->len; }
int fifth(int a, int b, int c, int d, skb_t *skb) { return a + b + c + d + skb->len; }
int no_skb(struct sock *sk, int x) { return x; }
int skb_by_value(struct net_device dev) { return dev.ifindex; }
int double_ptr(struct sk_buff **pskb) { return (*pskb)->len; }

// Raw tracepoint prototypes (tracepointArgs): skb:kfree_skb passing a
// reason, skb:consume_skb only the skb.
typedef void (*btf_trace_kfree_skb)(void *, struct sk_buff *, void *, int);
typedef void (*btf_trace_consume_skb)(void *, struct sk_buff *);
btf_trace_kfree_skb tp_kfree_skb;
btf_trace_consume_skb tp_consume_skb;
