package dbscan

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readReference reads a data set testdata/reference.py wrote with
// scikit-learn's DBSCAN labels.
func readReference(t *testing.T, name string) (pts [][]float64, labels []int, eps float64, minPts int) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	if _, err := fmt.Sscanf(sc.Text(), "# eps=%g min_samples=%d", &eps, &minPts); err != nil {
		t.Fatalf("%s header %q: %v", name, sc.Text(), err)
	}
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ",")
		x := make([]float64, len(fields)-1)
		for k := range x {
			if x[k], err = strconv.ParseFloat(fields[k], 64); err != nil {
				t.Fatal(err)
			}
		}
		l, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			t.Fatal(err)
		}
		pts, labels = append(pts, x), append(labels, l)
	}
	return pts, labels, eps, minPts
}

// sameUpToRenaming reports whether two labelings are the same partition
// with the same noise points, and where they first differ.
func sameUpToRenaming(got, want []int) (bool, int) {
	fwd, back := map[int]int{}, map[int]int{}
	for i := range want {
		g, w := got[i], want[i]
		if (g == Noise) != (w == Noise) {
			return false, i
		}
		if w == Noise {
			continue
		}
		if m, ok := fwd[w]; ok && m != g {
			return false, i
		}
		if m, ok := back[g]; ok && m != w {
			return false, i
		}
		fwd[w], back[g] = g, w
	}
	return true, -1
}

func TestClusterMatchesScikitLearn(t *testing.T) {
	for _, name := range []string{"moons", "blobs_noise", "blobs14"} {
		t.Run(name, func(t *testing.T) {
			pts, want, eps, minPts := readReference(t, name)
			res := Cluster(pts, eps, minPts)
			if ok, i := sameUpToRenaming(res.Labels, want); !ok {
				t.Fatalf("point %d: label %d, scikit-learn %d", i, res.Labels[i], want[i])
			}
			// Numbered in the order of their first core point, as
			// scikit-learn: the very same labels, not only the partition.
			if !slices.Equal(res.Labels, want) {
				t.Errorf("same partition, other numbering")
			}
			wantK := slices.Max(want) + 1
			if res.Clusters != wantK {
				t.Errorf("%d clusters, scikit-learn %d", res.Clusters, wantK)
			}
		})
	}
}

func TestCluster(t *testing.T) {
	line := func(x0 float64, n int) [][]float64 {
		var p [][]float64
		for i := range n {
			p = append(p, []float64{x0 + float64(i)*0.1, 0})
		}
		return p
	}
	for _, tc := range []struct {
		name     string
		pts      [][]float64
		eps      float64
		minPts   int
		labels   []int
		clusters int
	}{
		{name: "empty", eps: 1, minPts: 2, labels: []int{}},
		{name: "single point is noise", pts: [][]float64{{0, 0}}, eps: 1, minPts: 2, labels: []int{Noise}},
		{name: "minPts 1: every point core", pts: [][]float64{{0, 0}, {5, 5}}, eps: 1, minPts: 1, labels: []int{0, 1}, clusters: 2},
		{name: "eps is inclusive", pts: [][]float64{{0, 0}, {1, 0}}, eps: 1, minPts: 2, labels: []int{0, 0}, clusters: 1},
		{name: "just beyond eps", pts: [][]float64{{0, 0}, {1.0000001, 0}}, eps: 1, minPts: 2, labels: []int{Noise, Noise}},
		{name: "two chains and an outlier", pts: append(append(line(0, 5), line(10, 5)...), []float64{5, 5}),
			eps: 0.15, minPts: 3, labels: []int{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, Noise}, clusters: 2},
		{
			// The middle point is a border point of both clusters (2
			// neighbours besides itself, minPts 4): the first found keeps it.
			name: "border point goes to the first cluster",
			pts:  [][]float64{{0, 0}, {0, 0.1}, {0, -0.1}, {-0.1, 0}, {1, 0}, {2, 0}, {2, 0.1}, {2, -0.1}, {2.1, 0}},
			eps:  1, minPts: 4, labels: []int{0, 0, 0, 0, 0, 1, 1, 1, 1}, clusters: 2,
		},
		{name: "duplicates are dense", pts: [][]float64{{1, 1}, {1, 1}, {1, 1}, {9, 9}}, eps: 0.01, minPts: 3, labels: []int{0, 0, 0, Noise}, clusters: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Cluster(tc.pts, tc.eps, tc.minPts)
			if !slices.Equal(res.Labels, tc.labels) || res.Clusters != tc.clusters {
				t.Errorf("labels %v (%d clusters), want %v (%d)", res.Labels, res.Clusters, tc.labels, tc.clusters)
			}
		})
	}
}

// randomPoints are n points of d dimensions: two thirds in two tight
// groups, the rest uniform.
func randomPoints(n, d int, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	pts := make([][]float64, n)
	for i := range pts {
		x := make([]float64, d)
		for k := range x {
			switch i % 3 {
			case 0:
				x[k] = rng.NormFloat64() * 0.3
			case 1:
				x[k] = 3 + rng.NormFloat64()*0.3
			default:
				x[k] = rng.Float64()*10 - 5
			}
		}
		pts[i] = x
	}
	return pts
}

// TestTreeMatchesBruteForce checks the three searches against brute force,
// in few and in the segment features' many dimensions.
func TestTreeMatchesBruteForce(t *testing.T) {
	for _, d := range []int{1, 2, 14} {
		pts := randomPoints(700, d, uint64(d))
		tr := newTree(pts)
		queries := append(randomPoints(50, d, 99), pts[:50]...)
		for qi, x := range queries {
			all := make([]float64, len(pts))
			for i, p := range pts {
				all[i] = dist2(x, p)
			}
			eps := 0.8 * math.Sqrt(float64(d))
			var want []int
			for i, v := range all {
				if v <= eps*eps {
					want = append(want, i)
				}
			}
			got := tr.radius(x, eps, nil)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("d=%d query %d: radius %d points, brute force %d", d, qi, len(got), len(want))
			}
			if got, lim := tr.count(x, eps, 5), min(5, len(want)); got != lim {
				t.Fatalf("d=%d query %d: count up to 5 is %d, want %d", d, qi, got, lim)
			}
			if got := tr.count(x, eps, len(pts)+1); got != len(want) {
				t.Fatalf("d=%d query %d: count %d, want %d", d, qi, got, len(want))
			}
			sorted := slices.Sorted(slices.Values(all))
			if got := tr.knn(x, 7, nil); !slices.Equal(got, sorted[:7]) {
				t.Fatalf("d=%d query %d: knn %v, brute force %v", d, qi, got, sorted[:7])
			}
			i, v := tr.nearest(x)
			if wi := slices.Index(all, sorted[0]); i != wi || v != sorted[0] {
				t.Fatalf("d=%d query %d: nearest %d (%g), brute force %d (%g)", d, qi, i, v, wi, sorted[0])
			}
		}
	}
}

func TestKnee(t *testing.T) {
	for _, tc := range []struct {
		name string
		y    []float64
		want int
	}{
		{name: "hockey stick", y: []float64{1, 1, 1, 1, 1, 1, 1, 2, 4, 8}, want: 6},
		{name: "straight line: first point", y: []float64{0, 1, 2, 3, 4}, want: 0},
		{name: "flat", y: []float64{2, 2, 2, 2}, want: 2},
		{name: "too short", y: []float64{1, 5}, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Knee(tc.y); got != tc.want {
				t.Errorf("Knee(%v) = %d, want %d", tc.y, got, tc.want)
			}
		})
	}
}

// TestChooseEpsSeparatesOutliers: on dense groups with scattered points,
// eps at the knee makes the groups clusters and most scattered points
// noise.
func TestChooseEpsSeparatesOutliers(t *testing.T) {
	pts, _, _, _ := readReference(t, "blobs14")
	minPts := DefaultMinPts(14)
	eps := ChooseEps(pts, minPts, 0.01)
	res := Cluster(pts, eps, minPts)
	if res.Clusters != 3 {
		t.Errorf("eps %.3g: %d clusters, want the 3 groups", eps, res.Clusters)
	}
	var noiseInGroups, noiseFar int
	for i, l := range res.Labels {
		if l != Noise {
			continue
		}
		if i < 1500 {
			noiseInGroups++
		} else {
			noiseFar++
		}
	}
	if noiseFar < 35 || noiseInGroups > 30 {
		t.Errorf("eps %.3g: %d of the 40 far points noise, %d of the 1500 grouped ones", eps, noiseFar, noiseInGroups)
	}
}

func TestChooseEps(t *testing.T) {
	dup := func(x float64, n int) [][]float64 {
		var p [][]float64
		for range n {
			p = append(p, []float64{x})
		}
		return p
	}
	for _, tc := range []struct {
		name   string
		pts    [][]float64
		minPts int
		want   float64
	}{
		{name: "empty", minPts: 2, want: 0},
		// Duplicates have k-distance 0; the knee is among the rest.
		{name: "duplicates", pts: append(append(dup(0, 10), dup(1, 10)...), []float64{1.5}, []float64{2}, []float64{2.5}, []float64{9}), minPts: 2, want: 0.5},
		{name: "all duplicates: the largest", pts: dup(3, 5), minPts: 2, want: 0},
		{name: "evenly spaced", pts: [][]float64{{0}, {1}, {2}, {3}, {4}, {5}, {30}}, minPts: 2, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ChooseEps(tc.pts, tc.minPts, 0); got != tc.want {
				t.Errorf("ChooseEps = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestKDistances(t *testing.T) {
	pts := [][]float64{{0}, {1}, {3}, {7}}
	// k=1 is the point itself; k=2 the nearest other.
	if got := KDistances(pts, 1, 0); !slices.Equal(got, []float64{0, 0, 0, 0}) {
		t.Errorf("k=1: %v", got)
	}
	if got := KDistances(pts, 2, 0); !slices.Equal(got, []float64{1, 1, 2, 4}) {
		t.Errorf("k=2: %v", got)
	}
	// Every second point asked, against all of them.
	if got := KDistances(pts, 2, 2); !slices.Equal(got, []float64{1, 2}) {
		t.Errorf("k=2, 2 queries: %v", got)
	}
}

// TestModelAssign: the sample's core points get their own cluster, points
// near a cluster join it, far points are noise with their distance, and
// the model survives encoding.
func TestModelAssign(t *testing.T) {
	pts, want, eps, minPts := readReference(t, "blobs_noise")
	m, res := Fit(pts, eps, minPts)
	data, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, model := range []*Model{m, dec} {
		var border int
		for i, x := range pts {
			l, d := model.Assign(x)
			switch {
			case res.Core[i] && (l != want[i] || d != 0):
				t.Fatalf("core point %d: cluster %d at %g, want %d at 0", i, l, d, want[i])
			case want[i] == Noise && (l != Noise || d <= eps):
				t.Fatalf("noise point %d: cluster %d at %g", i, l, d)
			case !res.Core[i] && want[i] != Noise:
				border++
				if l == Noise {
					t.Fatalf("border point %d: noise", i)
				}
			}
		}
		if border == 0 {
			t.Error("no border points: the test says nothing about them")
		}
	}
	if l, d := m.Assign([]float64{1e3, 1e3}); l != Noise || d < 900 {
		t.Errorf("far point: cluster %d at %g", l, d)
	}
	if _, err := Decode(data[:len(data)/2]); err == nil {
		t.Error("truncated model decoded")
	}
	bad := *m
	bad.Labels = append(slices.Clone(m.Labels), 0)
	if err := bad.Validate(); err == nil {
		t.Error("a model with more labels than cores validated")
	}
}

// TestDeterministic: the same points give the same labels, and the
// points' order only renames clusters.
func TestDeterministic(t *testing.T) {
	pts := randomPoints(900, 3, 7)
	a, b := Cluster(pts, 0.4, 6), Cluster(pts, 0.4, 6)
	if !slices.Equal(a.Labels, b.Labels) {
		t.Fatal("two runs differ")
	}
	if a.Clusters < 2 {
		t.Fatalf("%d clusters: the test says nothing", a.Clusters)
	}
}
