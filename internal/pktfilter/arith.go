package pktfilter

// This file parses relations and arithmetic expressions ("ip[2:2] > 1500",
// "len - 14 < 64"), folding constants, and packet loads.

// operand is an arithmetic expression with the protocol checks that must
// hold before its loads are made.
type operand struct {
	e     *arith
	guard *node
	// first is the leftmost leaf of the expression as written, before
	// constant folding: libpcap checks it for division by zero.
	first *arith
}

// parseRelation parses "arith relop arith".
func (p *parser) parseRelation() (*node, qual, error) {
	x, err := p.parseArith(1)
	if err != nil {
		return nil, qerr, err
	}
	t := p.next()
	var r relation
	neg := false
	switch {
	case isOp(t, ">"):
		r = relGT
	case isOp(t, ">="):
		r = relGE
	case isOp(t, "="):
		r = relEQ
	case isOp(t, "<="):
		r, neg = relGT, true
	case isOp(t, "<"):
		r, neg = relGE, true
	case isOp(t, "!="):
		r, neg = relEQ, true
	default:
		return nil, qerr, unexpected(t)
	}
	y, err := p.parseArith(1)
	if err != nil {
		return nil, qerr, err
	}
	var n *node
	if x.e.op == aConst && y.e.op == aConst && p.optimize {
		// libpcap's optimiser decides the comparison at compile time.
		n = &node{op: opFalse}
		if compare(r, x.e.val, y.e.val) {
			n.op = opTrue
		}
	} else {
		n = &node{op: opRel, rel: r, x: x.e, y: y.e}
	}
	if neg {
		n = not(n)
	}
	return and(and(x.guard, y.guard), n), qerr, nil
}

var arithPrec = map[string]int{"|": 1, "&": 2, "<<": 3, ">>": 3, "+": 4, "-": 4, "*": 5, "/": 5}

var arithOps = map[string]arithOp{
	"|": aOr, "&": aAnd, "<<": aLsh, ">>": aRsh, "+": aAdd, "-": aSub, "*": aMul, "/": aDiv,
	"%": aMod, "^": aXor,
}

const unaryPrec = 6

// parseArith parses an arithmetic expression by precedence climbing. "%"
// and "^" have no precedence in libpcap's grammar, so its parser always
// shifts them: they bind to the operand on their left and take the whole
// rest of the expression as their right operand.
func (p *parser) parseArith(minPrec int) (operand, error) {
	if err := p.enter(); err != nil {
		return operand{}, err
	}
	defer p.leave()
	lhs, err := p.parseUnary()
	if err != nil {
		return operand{}, err
	}
	for {
		t := p.cur()
		if t.kind != tkOp {
			return lhs, nil
		}
		op, ok := arithOps[t.text]
		if !ok {
			return lhs, nil
		}
		next := 1
		if prec, ok := arithPrec[t.text]; ok {
			if prec < minPrec {
				return lhs, nil
			}
			next = prec + 1
		}
		p.next()
		rhs, err := p.parseArith(next)
		if err != nil {
			return operand{}, err
		}
		if err := checkConstOperand(op, rhs.first, t.pos); err != nil {
			return operand{}, err
		}
		e := &arith{op: op, a: lhs.e, b: rhs.e}
		if p.optimize {
			if e, err = fold(op, lhs.e, rhs.e, t.pos); err != nil {
				return operand{}, err
			}
		}
		// libpcap keeps only the left operand's protocol checks.
		lhs = operand{e: e, guard: lhs.guard, first: lhs.first}
	}
}

// checkConstOperand reproduces libpcap's compile-time checks, which look
// at the first instruction of the right operand as written.
func checkConstOperand(op arithOp, first *arith, pos int) error {
	if first.op != aConst {
		return nil
	}
	switch {
	case op == aDiv && first.val == 0:
		return errorf(pos, "division by zero")
	case op == aMod && first.val == 0:
		return errorf(pos, "modulus by zero")
	case (op == aLsh || op == aRsh) && first.val > 31:
		return errorf(pos, "shift by more than 31 bits")
	}
	return nil
}

// fold simplifies "a op b" the way libpcap's optimiser does: constant
// operands are folded (with its errors), and an operand whose value cannot
// matter is dropped together with its loads, so reading it can no longer
// reject a short packet.
func fold(op arithOp, a, b *arith, pos int) (*arith, error) {
	zero := &arith{op: aConst}
	if b.op == aConst {
		k := b.val
		if a.op == aConst {
			if (op == aDiv || op == aMod) && k == 0 {
				return nil, errorf(pos, "%s by zero", map[arithOp]string{aDiv: "division", aMod: "modulus"}[op])
			}
			m := machine{}
			v, _ := m.arith(&arith{op: op, a: a, b: b})
			return &arith{op: aConst, val: v}, nil
		}
		if (op == aLsh || op == aRsh) && k > 31 {
			return nil, errorf(pos, "shift by more than 31 bits")
		}
		if k == 0 {
			switch op {
			case aAdd, aLsh, aRsh, aOr, aXor:
				return a, nil
			case aMul, aAnd:
				return zero, nil
			case aDiv:
				return nil, errorf(pos, "division by zero")
			case aMod:
				return nil, errorf(pos, "modulus by zero")
			}
		}
	} else if a.op == aConst && a.val == 0 {
		switch op {
		case aAdd, aOr, aXor:
			return b, nil
		case aMul, aDiv, aMod, aAnd, aLsh, aRsh:
			return zero, nil
		}
	}
	return &arith{op: op, a: a, b: b}, nil
}

func (p *parser) parseUnary() (operand, error) {
	t := p.cur()
	switch t.kind {
	case tkOp:
		switch t.text {
		case "-":
			p.next()
			x, err := p.parseArith(unaryPrec)
			if err != nil {
				return operand{}, err
			}
			if x.e.op == aConst && p.optimize {
				return operand{e: &arith{op: aConst, val: -x.e.val}, guard: x.guard, first: x.first}, nil
			}
			return operand{e: &arith{op: aNeg, a: x.e}, guard: x.guard, first: x.first}, nil
		case "(":
			p.next()
			x, err := p.parseArith(1)
			if err != nil {
				return operand{}, err
			}
			if c := p.next(); !isOp(c, ")") {
				return operand{}, unexpected(c)
			}
			return x, nil
		}
	case tkNum:
		p.next()
		c := &arith{op: aConst, val: t.num}
		return operand{e: c, first: c}, nil
	case tkKW:
		if t.kw == "len" {
			p.next()
			l := &arith{op: aLen}
			return operand{e: l, first: l}, nil
		}
		if unsupportedKeywords[t.kw] {
			return operand{}, unsupported(t.pos, t.text)
		}
		if proto, ok := protoByKeyword[t.kw]; ok && isOp(p.at(p.pos+1), "[") {
			p.next()
			p.next()
			return p.parseLoad(proto, t.pos)
		}
	}
	return operand{}, unexpected(t)
}

// loadAt is a load of size bytes at index idx from the header r.
func (p *parser) loadAt(r ref, size uint8, idx *arith) *arith {
	b, org, k := p.place(r)
	return &arith{op: aLoad, base: b, org: org, shift: k, size: size, a: idx}
}

// parseLoad parses "idx]" or "idx:size]" after "proto[".
func (p *parser) parseLoad(proto qproto, pos int) (operand, error) {
	idx, err := p.parseArith(1)
	if err != nil {
		return operand{}, err
	}
	size := uint32(1)
	if isOp(p.cur(), ":") {
		p.next()
		s := p.next()
		if s.kind != tkNum {
			return operand{}, unexpected(s)
		}
		size = s.num
	}
	if c := p.next(); !isOp(c, "]") {
		return operand{}, unexpected(c)
	}
	if size != 1 && size != 2 && size != 4 {
		return operand{}, errorf(pos, "data size must be 1, 2, or 4")
	}
	var ld *arith
	var guard *node
	switch proto {
	case pLink:
		ld, guard = p.loadAt(refLinkHdr, uint8(size), idx.e), idx.guard
	case pIP, pARP, pRARP, pIP6:
		ab, err := p.abbrev(proto, pos)
		if err != nil {
			return operand{}, err
		}
		ld, guard = p.loadAt(refLinkPL, uint8(size), idx.e), and(idx.guard, ab)
	case pSCTP, pTCP, pUDP, pICMP, pIGMP, pIGRP, pPIM, pVRRP, pCARP:
		ab, err := p.abbrev(proto, pos)
		if err != nil {
			return operand{}, err
		}
		ld = p.loadAt(refTran4, uint8(size), idx.e)
		guard = and(p.linkType(etherIP), and(idx.guard, and(ab, p.fragOK())))
	case pICMP6:
		ld = p.loadAt(refTran6, uint8(size), idx.e)
		guard = and(and(idx.guard, p.linkType(etherIP6)), p.cmp(refLinkPL, 6, 1, relEQ, 0xffffffff, ipprotoICMP6))
	default:
		return operand{}, errorf(pos, "unsupported index operation")
	}
	return operand{e: ld, guard: guard, first: idx.first}, nil
}
