//! The fused InstanceNorm + LeakyReLU as a burn backend extension: implemented for
//! burn-flex (the CPU backend, native and wasm32) and for autodiff over it.

use super::kernel::{self, Planes};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::AutodiffBackend;
use burn::backend::{backend_extension, Backend, Flex, TensorMetadata};
use burn::tensor::{DType, Shape, TensorData};

/// `act(InstanceNorm(x) * gamma + beta)` with `act` a LeakyReLU of `slope` (1: none), and
/// its gradients `(dx, dgamma, dbeta)`. `x` is `[B, C, ...]`, `gamma` and `beta` are `[C]`.
#[backend_extension(Flex, Autodiff)]
pub trait CpuNormActOps: Backend {
    fn cpu_instance_norm_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
    ) -> FloatTensor<Self>;

    fn cpu_instance_norm_act_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The planes of `x`, when every tensor is f32 with the shapes the kernel expects
/// (checked by the caller in `norm::instance_norm_act`, asserted here).
fn planes(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor) -> Planes {
    let shape = x.shape();
    let channels = shape[1];
    assert!(
        [x.dtype(), gamma.dtype(), beta.dtype()] == [DType::F32; 3]
            && shape.num_dims() >= 3
            && gamma.shape().num_elements() == channels
            && beta.shape().num_elements() == channels,
        "cpu_instance_norm_act: unsupported tensors {shape:?}"
    );
    Planes {
        channels,
        len: shape.iter().skip(2).product(),
    }
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("a contiguous f32 tensor (checked by planes)")
}

fn tensor(data: Vec<f32>, shape: Shape) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

impl CpuNormActOps for Flex {
    fn cpu_instance_norm_act(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        slope: f64,
    ) -> FlexTensor {
        let p = planes(&x, &gamma, &beta);
        let (x, gamma, beta) = (
            x.to_contiguous(),
            gamma.to_contiguous(),
            beta.to_contiguous(),
        );
        let y = kernel::forward(
            p,
            slice(&x),
            slice(&gamma),
            slice(&beta),
            epsilon,
            slope as f32,
        );
        tensor(y, x.shape())
    }

    fn cpu_instance_norm_act_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        output_grad: FlexTensor,
        epsilon: f64,
        slope: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let p = planes(&x, &gamma, &beta);
        let (x, gamma, beta) = (
            x.to_contiguous(),
            gamma.to_contiguous(),
            beta.to_contiguous(),
        );
        let dy = output_grad.to_contiguous();
        let (dx, dgamma, dbeta) = kernel::backward(
            p,
            slice(&x),
            slice(&gamma),
            slice(&beta),
            slice(&dy),
            epsilon,
            slope as f32,
        );
        (
            tensor(dx, x.shape()),
            tensor(dgamma, gamma.shape()),
            tensor(dbeta, beta.shape()),
        )
    }
}

#[derive(Debug)]
struct CpuNormActBackward;

impl<B: Backend + CpuNormActOps> Backward<B, 3> for CpuNormActBackward {
    type State = (NodeId, NodeId, NodeId, f64, f64);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, gamma_state, beta_state, epsilon, slope) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let gamma = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(gamma_state);
        let beta = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(beta_state);
        let (dx, dgamma, dbeta) =
            B::cpu_instance_norm_act_backward(x, gamma, beta, grad, epsilon, slope);
        for (node, g) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + CpuNormActOps, C: CheckpointStrategy> CpuNormActOps for Autodiff<B, C> {
    fn cpu_instance_norm_act(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
    ) -> FloatTensor<Self> {
        match CpuNormActBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (
                    prep.checkpoint(&x),
                    prep.checkpoint(&gamma),
                    prep.checkpoint(&beta),
                    epsilon,
                    slope,
                );
                let y = B::cpu_instance_norm_act(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    slope,
                );
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_instance_norm_act(
                x.into_primitive(),
                gamma.into_primitive(),
                beta.into_primitive(),
                epsilon,
                slope,
            )),
        }
    }

    // Gradients of gradients (never needed by brainfm's training) are not tracked: the
    // results are constants of the graph.
    fn cpu_instance_norm_act_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dx, dgamma, dbeta) = B::cpu_instance_norm_act_backward(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            output_grad.into_primitive(),
            epsilon,
            slope,
        );
        (
            Self::from_inner(dx),
            Self::from_inner(dgamma),
            Self::from_inner(dbeta),
        )
    }
}
