//! Moving tensors between the host and a device.

use burn::tensor::{Device, Int, Tensor, TensorData};

/// Read a float tensor back to the host (one device sync), row-major.
pub fn read<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .try_into_vec::<f32>()
        .expect("vaekit keeps every float tensor in f32")
}

/// Upload a row-major `[rows, cols]` host buffer to `device`.
pub fn upload(buf: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(buf, [rows, cols]), device)
}

/// Read an integer tensor (code indices) back to the host, row-major.
pub fn read_indices<const D: usize>(t: Tensor<D, Int>) -> Vec<usize> {
    t.into_data().iter::<i64>().map(|i| i as usize).collect()
}
