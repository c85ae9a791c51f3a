//! Trends at national scale: the Mann-Kendall test and Sen's slope for every one of the
//! 14,520 buurten over 10 and over 45 periods (yearly 2015–2024; quarterly 2013–2024), as
//! `/indicators/{id}/trends` computes them on every request.
//!
//! Run: cargo bench --bench trends   (figures in BENCHMARKS.md)

use std::time::Instant;

use buurtmeter::indicators::trend::mann_kendall;

fn main() {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for periods in [10usize, 45] {
        let series: Vec<Vec<Option<f64>>> = (0..14_520)
            .map(|_| {
                let slope = next() - 0.5;
                (0..periods).map(|t| (next() > 0.05).then(|| 20.0 + slope * t as f64 + next() * 5.0)).collect()
            })
            .collect();
        let mut best = f64::INFINITY;
        let mut rising = 0;
        for _ in 0..5 {
            let t = Instant::now();
            rising = series.iter().filter_map(|s| mann_kendall(s)).filter(|t| t.z > 0.0).count();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("14,520 buurten × {periods} periods: {:.1} ms (best of 5, one thread; {rising} with z > 0)", best * 1e3);
    }
}
