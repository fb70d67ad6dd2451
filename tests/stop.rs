//! A stop request (the first Ctrl-C of a training command) ends the long phases that are
//! not training steps within about a second: caching a probe's features, decoding an
//! image folder. In a test binary of its own: the request is process-wide.

use std::time::{Duration, Instant};

use supcon::data::{DataError, DatasetSpec};
use supcon::train::features::map_split;
use supcon::train::{DataConfig, TrainError};

fn image_folder(dir: &std::path::Path) {
    for class in ["a", "b"] {
        let d = dir.join(class);
        std::fs::create_dir_all(&d).unwrap();
        for i in 0..6u32 {
            image::RgbImage::from_fn(8, 8, |x, y| {
                image::Rgb([(x * 30 + i) as u8, (y * 30) as u8, 9])
            })
            .save(d.join(format!("{i}.png")))
            .unwrap();
        }
    }
}

#[test]
fn a_stop_request_ends_feature_caching_and_folder_decoding_at_once() {
    supcon::stop::clear();
    let data = DataConfig::default().load(0).unwrap();
    let device = supcon::device::DeviceChoice::Cpu.device();
    let encode = |x: supcon::burn::tensor::Tensor<4>| x.flatten::<2>(1, 3);
    // Without a request every image is encoded.
    let all = map_split(&data, &data.test, 64, &device, encode).unwrap();
    assert_eq!(all.rows, data.test.len());

    let tmp = tempfile::tempdir().unwrap();
    image_folder(tmp.path());
    let spec: DatasetSpec = format!("folder:{}?split=0.5", tmp.path().display())
        .parse()
        .unwrap();
    assert_eq!(
        spec.load().unwrap().train.len() + spec.load().unwrap().test.len(),
        12
    );

    supcon::stop::request();
    let started = Instant::now();
    let err = map_split(&data, &data.train, 64, &device, encode).unwrap_err();
    assert!(matches!(err, TrainError::Stopped(_)), "{err}");
    assert!(err.to_string().contains("feature caching"), "{err}");
    let err = spec.load().unwrap_err();
    assert!(matches!(err, DataError::Stopped(_)), "{err}");
    assert!(
        err.to_string().contains("decoding the image folder"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    supcon::stop::clear();
}
