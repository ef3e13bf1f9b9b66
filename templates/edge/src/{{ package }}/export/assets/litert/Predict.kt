// Minimal LiteRT loader for Android (Kotlin). Add to app/build.gradle:
//   implementation("com.google.ai.edge.litert:litert:<version>")
// and copy model.tflite and manifest.json into app/src/main/assets/.
// Check the sha256 from manifest.json in your build or on first load.

import android.content.Context
import org.tensorflow.lite.Interpreter
import java.io.FileInputStream
import java.nio.MappedByteBuffer
import java.nio.channels.FileChannel

class EdgeModel(context: Context, modelFile: String = "model.tflite") {
    private val interpreter: Interpreter

    init {
        val descriptor = context.assets.openFd(modelFile)
        val buffer: MappedByteBuffer = FileInputStream(descriptor.fileDescriptor).channel.map(
            FileChannel.MapMode.READ_ONLY, descriptor.startOffset, descriptor.declaredLength
        )
        interpreter = Interpreter(buffer, Interpreter.Options().setNumThreads(1))
    }

    /** Scores for each row (one float array of the manifest's feature width per row). */
    fun predict(rows: Array<FloatArray>): Array<FloatArray> {
        val width = rows[0].size
        interpreter.resizeInput(0, intArrayOf(rows.size, width))
        interpreter.allocateTensors()
        val classes = interpreter.getOutputTensor(0).shape().last()
        val output = Array(rows.size) { FloatArray(classes) }
        interpreter.run(rows, output)
        return output
    }

    fun close() = interpreter.close()
}
