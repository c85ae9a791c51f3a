//! A stable counting sort on all cores, shared by the join (points into grid cells) and
//! the point tiles (points along the Morton curve).

use rayon::prelude::*;

/// Items `0..cells.len()` sorted by their cell (`cells[i] < n_cells`), file order inside a
/// cell: the items' indices, `payload(i)` of every item in the same order, and the start
/// of every cell in the output (`n_cells + 1` entries, the last one `cells.len()`).
///
/// Two passes and no comparison: the histogram per chunk on all cores, then the scatter on
/// all cores, each thread owning a range of cells and so a contiguous part of the output
/// (split off safely) where it places the items of its cells in file order.
pub fn counting_sort<T>(cells: &[u32], n_cells: usize, payload: impl Fn(usize) -> T + Sync) -> (Vec<u32>, Vec<T>, Vec<u32>)
where
    T: Copy + Default + Send + Sync,
{
    let n = cells.len();
    let chunk = n.div_ceil(rayon::current_num_threads()).max(1 << 16);
    let counts = cells
        .par_chunks(chunk)
        .map(|cs| {
            let mut h = vec![0u32; n_cells];
            cs.iter().for_each(|&c| h[c as usize] += 1);
            h
        })
        .reduce(
            || vec![0u32; n_cells],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut start = vec![0u32; n_cells + 1];
    for c in 0..n_cells {
        start[c + 1] = start[c] + counts[c];
    }
    let threads = rayon::current_num_threads().max(1);
    let mut bounds = vec![0usize];
    for t in 1..threads {
        let target = (n * t / threads) as u32;
        bounds.push(start.partition_point(|&s| s < target).clamp(*bounds.last().unwrap_or(&0), n_cells));
    }
    bounds.push(n_cells);
    let mut order = vec![0u32; n];
    let mut out = vec![T::default(); n];
    // Per thread: its range of cells, and its parts of the output.
    type Part<'a, T> = (std::ops::Range<usize>, &'a mut [u32], &'a mut [T]);
    let mut parts: Vec<Part<T>> = Vec::new();
    let (mut order_rest, mut out_rest): (&mut [u32], &mut [T]) = (&mut order, &mut out);
    for w in bounds.windows(2) {
        let len = (start[w[1]] - start[w[0]]) as usize;
        let (o, orest) = order_rest.split_at_mut(len);
        let (p, prest) = out_rest.split_at_mut(len);
        order_rest = orest;
        out_rest = prest;
        parts.push((w[0]..w[1], o, p));
    }
    parts.into_par_iter().for_each(|(range, o, p)| {
        let base = start[range.start];
        let mut next: Vec<u32> = start[range.clone()].iter().map(|&s| s - base).collect();
        for (i, &c) in cells.iter().enumerate() {
            let c = c as usize;
            if range.contains(&c) {
                let k = next[c - range.start] as usize;
                o[k] = i as u32;
                p[k] = payload(i);
                next[c - range.start] += 1;
            }
        }
    });
    (order, out, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_by_cell_and_keeps_file_order_inside_a_cell() {
        let cells: Vec<u32> = (0..200_000u32).map(|i| i.wrapping_mul(2_654_435_761) % 97).collect();
        let (order, payload, start) = counting_sort(&cells, 97, |i| cells[i]);
        let mut expected: Vec<u32> = (0..cells.len() as u32).collect();
        expected.sort_by_key(|&i| cells[i as usize]); // stable: file order inside a cell
        assert_eq!(order, expected);
        assert!(payload.iter().zip(&order).all(|(&p, &i)| p == cells[i as usize]));
        assert_eq!(start.len(), 98);
        assert_eq!(*start.last().unwrap() as usize, cells.len());
        for c in 0..97 {
            assert!(payload[start[c] as usize..start[c + 1] as usize].iter().all(|&p| p == c as u32));
        }
    }
}
