// gradflow: deep feed-forward neural networks on the CPU — the umbrella header.
#pragma once

#include "gradflow/activations.h"
#include "gradflow/data/dataset.h"
#include "gradflow/data/synthetic.h"
#include "gradflow/dense.h"
#include "gradflow/init.h"
#include "gradflow/layer.h"
#include "gradflow/loss.h"
#include "gradflow/optimizer.h"
#include "gradflow/perceptron.h"
#include "gradflow/rng.h"
#include "gradflow/sequential.h"
#include "gradflow/tensor.h"
#include "gradflow/threads.h"
#include "gradflow/trainer.h"
