// Minimal Core ML loader for iOS / macOS (Swift). Add model.mlpackage to the Xcode target
// (Xcode compiles it to model.mlmodelc), or compile at run time as below.
// The input and output names are in manifest.json ("signature").

import CoreML
import Foundation

final class EdgeModel {
    private let model: MLModel
    private let inputName: String
    private let outputName: String

    init(packageURL: URL, inputName: String, outputName: String) throws {
        let compiled = try MLModel.compileModel(at: packageURL)
        let configuration = MLModelConfiguration()
        configuration.computeUnits = .all
        model = try MLModel(contentsOf: compiled, configuration: configuration)
        self.inputName = inputName
        self.outputName = outputName
    }

    /// Scores for a batch of rows, each row the manifest's feature width.
    func predict(rows: [[Float]]) throws -> [[Float]] {
        let width = rows[0].count
        let input = try MLMultiArray(shape: [NSNumber(value: rows.count), NSNumber(value: width)],
                                     dataType: .float32)
        for (r, row) in rows.enumerated() {
            for (c, value) in row.enumerated() { input[r * width + c] = NSNumber(value: value) }
        }
        let features = try MLDictionaryFeatureProvider(dictionary: [inputName: input])
        let output = try model.prediction(from: features)
        guard let scores = output.featureValue(for: outputName)?.multiArrayValue else {
            throw NSError(domain: "EdgeModel", code: 1)
        }
        let classes = scores.count / rows.count
        return (0..<rows.count).map { r in (0..<classes).map { scores[r * classes + $0].floatValue } }
    }
}
