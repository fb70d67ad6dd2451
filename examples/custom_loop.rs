//! The SupCon loss inside your own burn training loop, with your own model.
//!
//! ```text
//! cargo run --release --example custom_loop
//! ```
//!
//! Nothing here uses supcon's trainer: a two-layer network of our own (`Net`), synthetic
//! data (four classes of points in 16 dimensions, two noisy "views" of each point), burn's
//! SGD, and a plain loop. supcon provides only the loss, in its two forms:
//!
//! 1. [`SupConLoss`]: a differentiable burn loss. `loss.backward()` gives the gradients.
//!    Memory is `O((views * batch)^2)`.
//! 2. [`tiled_supcon`]: the same loss computed in row blocks on the host, returning the loss
//!    value and the exact gradient with respect to the projections, never holding the
//!    full similarity matrix. Hand that gradient back to autodiff through the surrogate
//!    `sum(z * g)`, whose gradient with respect to `z` is `g`.
//!
//! The first step checks that both give the same loss and the same parameter update; the
//! loop then trains with each and prints the loss and the nearest-class-mean accuracy of
//! the embeddings. It takes well under a second in a release build.

use supcon::burn::module::Module;
use supcon::burn::nn::{Linear, LinearConfig};
use supcon::burn::optim::momentum::MomentumConfig;
use supcon::burn::optim::{GradientsParams, SgdConfig};
use supcon::burn::tensor::activation::relu;
use supcon::burn::tensor::{Device, Tensor, TensorData};
use supcon::loss::{Positives, SupConLoss, SupConLossConfig, tiled_supcon};
use supcon::model::l2_normalize;

const INPUT: usize = 16;
const CLASSES: usize = 4;
const BATCH: usize = 32;
const VIEWS: usize = 2;
const STEPS: usize = 60;

/// The user's own model: `[N, 16] -> [N, 8]`, unit-norm rows (SupCon compares directions).
#[derive(Module, Debug)]
struct Net {
    hidden: Linear,
    out: Linear,
}

impl Net {
    fn new(device: &Device) -> Self {
        Self {
            hidden: LinearConfig::new(INPUT, 32).init(device),
            out: LinearConfig::new(32, 8).init(device),
        }
    }

    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        l2_normalize(self.out.forward(relu(self.hidden.forward(x))))
    }
}

/// A deterministic generator (no dependency needed for an example).
struct Lcg(u64);

impl Lcg {
    fn uniform(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    fn normal(&mut self) -> f32 {
        // Box-Muller.
        let (u, v) = (self.uniform().max(1e-7), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// One batch: `BATCH` points (class `i % CLASSES`, around that class's centre) as `VIEWS`
/// noisy views, view-major: rows `v * BATCH + i` are view `v` of point `i`.
fn batch(rng: &mut Lcg, centres: &[Vec<f32>]) -> (Vec<f32>, Vec<usize>) {
    let labels: Vec<usize> = (0..BATCH).map(|i| i % CLASSES).collect();
    let points: Vec<Vec<f32>> = labels
        .iter()
        .map(|&c| centres[c].iter().map(|m| m + 1.5 * rng.normal()).collect())
        .collect();
    let mut rows = Vec::with_capacity(VIEWS * BATCH * INPUT);
    for _ in 0..VIEWS {
        for point in &points {
            rows.extend(point.iter().map(|x| x + 0.3 * rng.normal()));
        }
    }
    (rows, labels)
}

/// Projections `[VIEWS * BATCH, P]` (view-major) as the loss's `[BATCH, VIEWS, P]`.
fn as_views(z: Tensor<2>) -> Tensor<3> {
    let p = z.dims()[1];
    z.reshape([VIEWS, BATCH, p]).swap_dims(0, 1)
}

/// Loss and gradients with [`SupConLoss`] (burn autodiff).
fn plain_step(
    net: &Net,
    x: Tensor<2>,
    labels: &[usize],
    loss: &SupConLoss,
) -> (f64, GradientsParams) {
    let z = net.forward(x); // [V*B, P]
    let value = loss
        .forward(as_views(z), Positives::Labels(labels))
        .expect("a valid batch"); // [1]
    let scalar = f64::from(value.clone().into_scalar::<f32>());
    (scalar, GradientsParams::from_grads(value.backward(), net))
}

/// Loss and gradients with [`tiled_supcon`]: the loss and `d loss / d z` on the host, then
/// the surrogate `sum(z * g)` carries `g` back through the network.
fn tiled_step(
    net: &Net,
    x: Tensor<2>,
    labels: &[usize],
    config: &SupConLossConfig,
    device: &Device,
) -> (f64, GradientsParams) {
    let z = net.forward(x); // [V*B, P]
    let p = z.dims()[1];
    // [B, V, P] row-major on the host, without gradient tracking.
    let features: Vec<f32> = as_views(z.clone().detach())
        .into_data()
        .try_to_vec()
        .expect("f32 features");
    let out = tiled_supcon(
        config,
        &features,
        [BATCH, VIEWS, p],
        Positives::Labels(labels),
        0,
        64,
    )
    .expect("a valid batch");
    // The gradient is laid out as [B, V, P]; bring it back to z's view-major rows.
    let g = Tensor::<3>::from_data(TensorData::new(out.grad, [BATCH, VIEWS, p]), device)
        .swap_dims(0, 1)
        .reshape([VIEWS * BATCH, p]);
    let surrogate = z.mul(g).sum(); // d surrogate / d z = g
    (
        out.loss,
        GradientsParams::from_grads(surrogate.backward(), net),
    )
}

/// Accuracy of assigning each point of a fresh batch to the nearest class mean of the
/// embeddings of another batch.
fn nearest_mean_accuracy(net: &Net, rng: &mut Lcg, centres: &[Vec<f32>], device: &Device) -> f32 {
    let embed = |rows: Vec<f32>| -> Vec<f32> {
        let x = Tensor::<2>::from_data(TensorData::new(rows, [VIEWS * BATCH, INPUT]), device);
        net.valid()
            .forward(x)
            .into_data()
            .try_to_vec()
            .expect("f32 embeddings")
    };
    let (train_rows, labels) = batch(rng, centres);
    let train = embed(train_rows);
    let p = train.len() / (VIEWS * BATCH);
    let mut means = vec![vec![0.0f32; p]; CLASSES];
    for (row, chunk) in train.chunks(p).enumerate() {
        for (m, v) in means[labels[row % BATCH]].iter_mut().zip(chunk) {
            *m += v;
        }
    }
    let (test_rows, test_labels) = batch(rng, centres);
    let test = embed(test_rows);
    let correct = test
        .chunks(p)
        .enumerate()
        .filter(|(row, z)| {
            let score = |c: usize| {
                means[c]
                    .iter()
                    .zip(z.iter())
                    .map(|(m, v)| m * v)
                    .sum::<f32>()
            };
            let best = (0..CLASSES)
                .max_by(|a, b| score(*a).total_cmp(&score(*b)))
                .unwrap();
            best == test_labels[row % BATCH]
        })
        .count();
    correct as f32 / (test.len() / p) as f32
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Train on an autodiff device; `net.valid()` gives the no-grad copy for evaluation.
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut rng = Lcg(42);
    let centres: Vec<Vec<f32>> = (0..CLASSES)
        .map(|_| (0..INPUT).map(|_| rng.normal()).collect())
        .collect();
    let config = SupConLossConfig::default().with_temperature(0.1);
    let loss = config.init()?;

    // Both forms agree: the same loss and the same update from the same weights.
    let net = Net::new(&device);
    let (rows, labels) = batch(&mut rng, &centres);
    let x = Tensor::<2>::from_data(TensorData::new(rows, [VIEWS * BATCH, INPUT]), &device);
    let (plain_loss, plain_grads) = plain_step(&net, x.clone(), &labels, &loss);
    let (tiled_loss, tiled_grads) = tiled_step(&net, x, &labels, &config, &device);
    let sgd = SgdConfig::new();
    let a = sgd.init().step(0.1, net.clone(), plain_grads);
    let b = sgd.init().step(0.1, net.clone(), tiled_grads);
    let diff = a
        .out
        .weight
        .val()
        .sub(b.out.weight.val())
        .abs()
        .max()
        .into_scalar::<f32>();
    println!(
        "step 0: plain loss {plain_loss:.6}, tiled loss {tiled_loss:.6}, max update difference {diff:.2e}"
    );
    assert!((plain_loss - tiled_loss).abs() < 1e-4 && diff < 1e-5);

    for tiled in [false, true] {
        // The same initial weights and batches for both forms.
        device.seed(1);
        let mut rng = Lcg(100);
        let mut net = Net::new(&device);
        let mut optim = SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
            .init();
        let before = nearest_mean_accuracy(&net, &mut Lcg(7), &centres, &device);
        let mut first = f64::NAN;
        let mut last = f64::NAN;
        for step in 0..STEPS {
            let (rows, labels) = batch(&mut rng, &centres);
            let x = Tensor::<2>::from_data(TensorData::new(rows, [VIEWS * BATCH, INPUT]), &device);
            let (value, grads) = if tiled {
                tiled_step(&net, x, &labels, &config, &device)
            } else {
                plain_step(&net, x, &labels, &loss)
            };
            net = optim.step(0.05, net, grads);
            if step == 0 {
                first = value;
            }
            last = value;
        }
        let after = nearest_mean_accuracy(&net, &mut Lcg(7), &centres, &device);
        println!(
            "{}: loss {first:.3} -> {last:.3} over {STEPS} steps; nearest-class-mean accuracy {:.0}% -> {:.0}%",
            if tiled {
                "tiled_supcon"
            } else {
                "SupConLoss  "
            },
            100.0 * before,
            100.0 * after
        );
    }
    Ok(())
}
