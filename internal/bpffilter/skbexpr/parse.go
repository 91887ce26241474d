package skbexpr

import (
	"fmt"
	"strconv"
	"strings"
)

// tokKind classifies tokens.
type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokNumber
	tokOp // operators and punctuation, text in token.text
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset in the expression
}

// maxLen bounds expression length; longer input is almost certainly not
// hand-written and would only make the generated program huge.
const maxLen = 4096

// twoChar lists operators of two characters; they are matched before the
// single-character ones.
var twoChar = []string{"->", "==", "!=", "<=", ">=", "&&", "||"}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			out = append(out, token{tokIdent, s[i:j], i})
			i = j
		case c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			out = append(out, token{tokNumber, s[i:j], i})
			i = j
		default:
			op := ""
			for _, t := range twoChar {
				if strings.HasPrefix(s[i:], t) {
					op = t
					break
				}
			}
			if op == "" && strings.IndexByte("<>&|!().-", c) >= 0 {
				op = string(c)
			}
			if op == "" {
				return nil, fmt.Errorf("unexpected character %q at column %d", rune(c), i+1)
			}
			out = append(out, token{tokOp, op, i})
			i += len(op)
		}
	}
	return append(out, token{tokEOF, "", len(s)}), nil
}

// node is a parsed expression.
type node interface {
	position() int
}

// numNode is an integer literal, stored as its 64-bit two's complement.
type numNode struct {
	val uint64
	pos int
}

// fieldNode is root->a.b->c: ops[i] ("->" or ".") precedes names[i].
type fieldNode struct {
	root  string
	ops   []string
	names []string
	pos   int
}

// notNode is !x.
type notNode struct {
	x   node
	pos int
}

// binNode is a binary operator: || && == != < <= > >= | &.
type binNode struct {
	op   string
	l, r node
	pos  int
}

func (n *numNode) position() int   { return n.pos }
func (n *fieldNode) position() int { return n.pos }
func (n *notNode) position() int   { return n.pos }
func (n *binNode) position() int   { return n.pos }

// String renders the field path as written, without spaces.
func (n *fieldNode) String() string {
	var b strings.Builder
	b.WriteString(n.root)
	for i, name := range n.names {
		b.WriteString(n.ops[i])
		b.WriteString(name)
	}
	return b.String()
}

type parser struct {
	toks  []token
	i     int
	depth int
}

// maxDepth bounds nesting so that pathological input cannot exhaust the
// Go stack; expressions this deep do not fit the stack frame anyway.
const maxDepth = 64

func parse(s string) (node, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	if len(s) > maxLen {
		return nil, fmt.Errorf("expression longer than %d bytes", maxLen)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.unexpected(t, "an operator")
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) unexpected(t token, want string) error {
	if t.kind == tokEOF {
		return fmt.Errorf("unexpected end of expression, want %s", want)
	}
	return fmt.Errorf("unexpected %q at column %d, want %s", t.text, t.pos+1, want)
}

func (p *parser) isOp(ops ...string) bool {
	t := p.peek()
	if t.kind != tokOp {
		return false
	}
	for _, op := range ops {
		if t.text == op {
			return true
		}
	}
	return false
}

// binary parses a left-associative chain of ops over operands from sub.
func (p *parser) binary(sub func() (node, error), ops ...string) (node, error) {
	l, err := sub()
	if err != nil {
		return nil, err
	}
	for p.isOp(ops...) {
		t := p.next()
		r, err := sub()
		if err != nil {
			return nil, err
		}
		l = &binNode{t.text, l, r, t.pos}
	}
	return l, nil
}

func (p *parser) or() (node, error)  { return p.binary(p.and, "||") }
func (p *parser) and() (node, error) { return p.binary(p.cmp, "&&") }

func (p *parser) cmp() (node, error) {
	l, err := p.bitor()
	if err != nil {
		return nil, err
	}
	if !p.isOp("==", "!=", "<", "<=", ">", ">=") {
		return l, nil
	}
	t := p.next()
	r, err := p.bitor()
	if err != nil {
		return nil, err
	}
	if p.isOp("==", "!=", "<", "<=", ">", ">=") {
		t2 := p.peek()
		return nil, fmt.Errorf("chained comparison %q at column %d: add parentheses", t2.text, t2.pos+1)
	}
	return &binNode{t.text, l, r, t.pos}, nil
}

func (p *parser) bitor() (node, error)  { return p.binary(p.bitand, "|") }
func (p *parser) bitand() (node, error) { return p.binary(p.unary, "&") }

func (p *parser) unary() (node, error) {
	if p.isOp("!") {
		t := p.next()
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, fmt.Errorf("expression nested deeper than %d at column %d", maxDepth, t.pos+1)
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &notNode{x, t.pos}, nil
	}
	return p.primary()
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch {
	case t.kind == tokOp && t.text == "(":
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxDepth {
			return nil, fmt.Errorf("expression nested deeper than %d at column %d", maxDepth, t.pos+1)
		}
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokOp || c.text != ")" {
			return nil, p.unexpected(c, `")"`)
		}
		return n, nil
	case t.kind == tokOp && t.text == "-":
		num := p.next()
		if num.kind != tokNumber {
			return nil, p.unexpected(num, "a number after \"-\"")
		}
		v, err := parseNumber(num)
		if err != nil {
			return nil, err
		}
		if v > 1<<63 {
			return nil, fmt.Errorf("number -%s at column %d is out of range", num.text, t.pos+1)
		}
		return &numNode{-v, t.pos}, nil
	case t.kind == tokNumber:
		v, err := parseNumber(t)
		if err != nil {
			return nil, err
		}
		return &numNode{v, t.pos}, nil
	case t.kind == tokIdent:
		f := &fieldNode{root: t.text, pos: t.pos}
		for p.isOp("->", ".") {
			op := p.next()
			name := p.next()
			if name.kind != tokIdent {
				return nil, p.unexpected(name, fmt.Sprintf("a field name after %q", op.text))
			}
			f.ops = append(f.ops, op.text)
			f.names = append(f.names, name.text)
		}
		return f, nil
	}
	return nil, p.unexpected(t, "a field, a number or \"(\"")
}

func parseNumber(t token) (uint64, error) {
	s := t.text
	base := 10
	if len(s) > 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s, base = s[2:], 16
	}
	v, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("number %s at column %d does not fit in 64 bits", t.text, t.pos+1)
		}
		return 0, fmt.Errorf("invalid number %q at column %d", t.text, t.pos+1)
	}
	return v, nil
}
