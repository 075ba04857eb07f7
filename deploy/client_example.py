"""A thin client for TF Serving (the real tensorflow_model_server or `bert-keras serve`): classify texts over gRPC
and REST with bert-keras' clients, and the same call with the stock tensorflow-serving-api stub.

    python deploy/client_example.py --model reviews "A wonderful film." "Dull and far too long."
"""

import argparse

import grpc
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from bert_keras.serving import GrpcClient, RestClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("texts", nargs="+")
    parser.add_argument("--model", default="reviews")
    parser.add_argument("--grpc", default="127.0.0.1:8500")
    parser.add_argument("--rest", default="http://127.0.0.1:8501")
    args = parser.parse_args()

    for client in (GrpcClient(args.grpc, args.model), RestClient(args.rest, args.model)):
        for text, result in zip(args.texts, client.classify(args.texts)):
            print(f"{type(client).__name__}: {result.label} {result.score:.3f}  {text}")

    # No bert-keras needed on the client side: the stock stub and the export's raw-string signature.
    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(args.grpc))
    request = predict_pb2.PredictRequest()
    request.model_spec.name = args.model
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(args.texts))
    response = stub.Predict(request, timeout=30)
    print("stock stub labels:", [v.decode() for v in tf.make_ndarray(response.outputs["labels"])])


if __name__ == "__main__":
    main()
