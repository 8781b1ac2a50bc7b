//go:build bench

package scalebench

import "testing"

func TestSameOnColumns(t *testing.T) {
	ref := "user_id,offer\nu1,none\nu2,coupon5\n"
	for _, tc := range []struct {
		name, plan string
		same, ok   bool
	}{
		{"added column", "user_id,offer,items\nu1,none,a|b\nu2,coupon5,c\n", true, true},
		{"added column, moved", "items,offer,user_id\na|b,none,u1\nc,coupon5,u2\n", true, true},
		{"decision changed", "user_id,offer,items\nu1,none,a\nu2,gift,c\n", false, true},
		{"column gone", "user_id,items,x\nu1,a,1\nu2,c,2\n", false, false},
		{"rows differ in number", "user_id,offer,items\nu1,none,a\n", false, false},
		{"same columns", "user_id,offer\nu1,none\nu2,gift\n", false, false},
	} {
		same, cols, ok := sameOnColumns([]byte(ref), []byte(tc.plan))
		if same != tc.same || ok != tc.ok {
			t.Errorf("%s: same %v ok %v, want %v %v", tc.name, same, ok, tc.same, tc.ok)
		}
		if ok && (len(cols.ref) != 2 || len(cols.added) != 1 || cols.added[0] != "items") {
			t.Errorf("%s: columns %+v", tc.name, cols)
		}
	}
}
