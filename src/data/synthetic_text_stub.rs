pub const VOCAB: usize = 1000;
pub const LEN: usize = 10;
pub struct Generator;
impl Generator {
    pub fn new(_seed: u64) -> Self { Generator }
    pub fn sample(&self, n: usize, rng: &mut impl rand::Rng) -> (Vec<Vec<u32>>, Vec<[f64; 2]>) {
        ((0..n).map(|_| (0..LEN).map(|_| rng.random_range(0..VOCAB as u32)).collect()).collect(), vec![[0.0;2];n])
    }
}
