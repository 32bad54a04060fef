//! The kernels as a burn backend extension: implemented for burn-flex (the CPU backend,
//! native and wasm32) and for autodiff over it, with its own backward pass.

use super::kernel;
use super::shape::ConvShape;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Flex, TensorMetadata};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, Shape, TensorData};

/// 3D convolution with brainfm's CPU kernels. Same contract as burn's `conv3d` (split in
/// two: the extension macro of burn 0.22.1 does not unwrap `Option<FloatTensor>` inputs),
/// its `conv3d_x_backward` and `conv3d_weight_backward`.
#[backend_extension(Flex, Autodiff)]
pub trait CpuConv3dOps: Backend {
    fn cpu_conv3d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self>;

    fn cpu_conv3d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self>;

    fn cpu_conv3d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self>;

    fn cpu_conv3d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self>;
}

/// The kernels' view of a convolution, or `None` where burn's own kernel must run:
/// another dtype, dilation, groups, or a degenerate shape.
fn conv_shape(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<3>) -> Option<ConvShape> {
    if x.dtype() != DType::F32
        || weight.dtype() != DType::F32
        || options.groups != 1
        || options.dilation != [1, 1, 1]
    {
        return None;
    }
    let xs = x.shape();
    let ws = weight.shape();
    if xs.num_dims() != 5 || ws.num_dims() != 5 || xs[1] != ws[1] {
        return None;
    }
    ConvShape::new(
        xs[0],
        xs[1],
        ws[0],
        [xs[2], xs[3], xs[4]],
        [ws[2], ws[3], ws[4]],
        options.stride,
        options.padding,
    )
}

/// The elements of a tensor made contiguous with `to_contiguous` (a no-op when it is).
fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("a contiguous f32 tensor (checked by conv_shape)")
}

fn tensor(data: Vec<f32>, dims: [usize; 5]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, Shape::new(dims)))
}

fn flex_conv3d(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: ConvOptions<3>,
) -> FlexTensor {
    let bias_ok = bias.as_ref().is_none_or(|b| b.dtype() == DType::F32);
    let Some(s) = conv_shape(&x, &weight, &options).filter(|_| bias_ok) else {
        return <Flex as ModuleOps<Flex>>::conv3d(x, weight, bias, options);
    };
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let bias = bias.map(|b| b.to_contiguous());
    let y = kernel::forward(&s, slice(&x), slice(&weight), bias.as_ref().map(slice));
    let [o0, o1, o2] = s.output;
    tensor(y, [s.batch, s.c_out, o0, o1, o2])
}

impl CpuConv3dOps for Flex {
    fn cpu_conv3d(x: FlexTensor, weight: FlexTensor, options: ConvOptions<3>) -> FlexTensor {
        flex_conv3d(x, weight, None, options)
    }

    fn cpu_conv3d_bias(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        options: ConvOptions<3>,
    ) -> FlexTensor {
        flex_conv3d(x, weight, Some(bias), options)
    }

    fn cpu_conv3d_x_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<3>,
    ) -> FlexTensor {
        let Some(s) =
            conv_shape(&x, &weight, &options).filter(|_| output_grad.dtype() == DType::F32)
        else {
            return <Flex as ModuleOps<Flex>>::conv3d_x_backward(x, weight, output_grad, options);
        };
        let (weight, dy) = (weight.to_contiguous(), output_grad.to_contiguous());
        let dx = kernel::input_grad(&s, slice(&weight), slice(&dy));
        let [i0, i1, i2] = s.input;
        tensor(dx, [s.batch, s.c_in, i0, i1, i2])
    }

    fn cpu_conv3d_weight_backward(
        x: FlexTensor,
        weight: FlexTensor,
        output_grad: FlexTensor,
        options: ConvOptions<3>,
    ) -> FlexTensor {
        let Some(s) =
            conv_shape(&x, &weight, &options).filter(|_| output_grad.dtype() == DType::F32)
        else {
            return <Flex as ModuleOps<Flex>>::conv3d_weight_backward(
                x,
                weight,
                output_grad,
                options,
            );
        };
        let (x, dy) = (x.to_contiguous(), output_grad.to_contiguous());
        let dw = kernel::weight_grad(&s, slice(&x), slice(&dy));
        let [k0, k1, k2] = s.kernel;
        tensor(dw, [s.c_out, s.c_in, k0, k1, k2])
    }
}

/// Registers `dL/dx` and `dL/dw` from the kernels above.
fn register_input_and_weight<B: Backend + CpuConv3dOps>(
    [node_x, node_weight]: [Option<NodeId>; 2],
    x: &FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: &FloatTensor<B>,
    options: ConvOptions<3>,
    grads: &mut Gradients,
) {
    if let Some(id) = node_x {
        let dx = B::cpu_conv3d_x_backward(x.clone(), weight.clone(), grad.clone(), options.clone());
        grads.register::<B>(id, dx);
    }
    if let Some(id) = node_weight {
        let dw = B::cpu_conv3d_weight_backward(x.clone(), weight, grad.clone(), options);
        grads.register::<B>(id, dw);
    }
}

#[derive(Debug)]
struct CpuConv3dWithBias;

impl<B: Backend + CpuConv3dOps> Backward<B, 3> for CpuConv3dWithBias {
    type State = (NodeId, NodeId, NodeId, ConvOptions<3>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, bias_state, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
        let bias = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(bias_state);
        register_input_and_weight::<B>(
            [node_x.map(|n| n.id), node_weight.map(|n| n.id)],
            &x,
            weight,
            &grad,
            options,
            grads,
        );
        if let Some(node) = node_bias {
            grads.register::<B>(node.id, B::conv3d_bias_backward(x, bias, grad));
        }
    }
}

#[derive(Debug)]
struct CpuConv3dNoBias;

impl<B: Backend + CpuConv3dOps> Backward<B, 2> for CpuConv3dNoBias {
    type State = (NodeId, NodeId, ConvOptions<3>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, options) = ops.state;
        let x = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(x_state);
        let weight = checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(weight_state);
        let [node_x, node_weight] = ops.parents;
        register_input_and_weight::<B>(
            [node_x.map(|n| n.id), node_weight.map(|n| n.id)],
            &x,
            weight,
            &grad,
            options,
            grads,
        );
    }
}

impl<B: Backend + CpuConv3dOps, C: CheckpointStrategy> CpuConv3dOps for Autodiff<B, C> {
    fn cpu_conv3d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        match CpuConv3dNoBias
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (
                    prep.checkpoint(&x),
                    prep.checkpoint(&weight),
                    options.clone(),
                );
                let y = B::cpu_conv3d(x.into_primitive(), weight.into_primitive(), options);
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_conv3d(
                x.into_primitive(),
                weight.into_primitive(),
                options,
            )),
        }
    }

    fn cpu_conv3d_bias(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        match CpuConv3dWithBias
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let state = (
                    prep.checkpoint(&x),
                    prep.checkpoint(&weight),
                    prep.checkpoint(&bias),
                    options.clone(),
                );
                let y = B::cpu_conv3d_bias(
                    x.into_primitive(),
                    weight.into_primitive(),
                    bias.into_primitive(),
                    options,
                );
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::cpu_conv3d_bias(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
                options,
            )),
        }
    }

    // Gradients of gradients (never needed by brainfm's training) go through burn's own
    // differentiable implementation.
    fn cpu_conv3d_x_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv3d_x_backward(x, weight, output_grad, options)
    }

    fn cpu_conv3d_weight_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        output_grad: FloatTensor<Self>,
        options: ConvOptions<3>,
    ) -> FloatTensor<Self> {
        <Self as ModuleOps<Self>>::conv3d_weight_backward(x, weight, output_grad, options)
    }
}
